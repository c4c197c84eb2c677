#!/usr/bin/env bash
# Starts a Podman API service on $SOCK (default /run/enclave/podman.sock) with
# the project's containers.conf, unless one already answers there.
set -euo pipefail
SOCK=${SOCK:-/run/enclave/podman.sock}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")/.." && pwd)/deploy/containers.conf}
if curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  # A service started with other storage settings would ignore ours.
  want=$(awk -F'"' '/^graphroot/ {print $2}' "${CONTAINERS_STORAGE_CONF:-/dev/null}" 2>/dev/null || true)
  have=$(curl -fsS --max-time 5 --unix-socket "$SOCK" http://d/v4.0.0/libpod/info | sed -n 's/.*"graphRoot":"\([^"]*\)".*/\1/p')
  if [ -z "$want" ] || [ "$want" = "$have" ]; then
    exit 0
  fi
  echo "podman service on $SOCK uses storage $have, not $want: restarting it"
  pkill -f "podman system service --time=0 unix://$SOCK" || true
  for _ in $(seq 1 50); do curl -fsS --max-time 1 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 || break; sleep 0.1; done
fi
mkdir -p "$(dirname "$SOCK")"
rm -f "$SOCK"
# conmon drops files (an "oom" marker) into the service's working directory.
cd "$(dirname "$SOCK")"
nohup podman system service --time=0 "unix://$SOCK" >"$(dirname "$SOCK")/podman-service.log" 2>&1 &
for _ in $(seq 1 100); do
  if curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
    echo "podman service on unix://$SOCK"
    exit 0
  fi
  sleep 0.1
done
echo "podman service did not come up; see $(dirname "$SOCK")/podman-service.log" >&2
exit 1
