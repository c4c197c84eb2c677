#!/usr/bin/env bash
# Starts a Podman API service on $SOCK (default /run/enclave/podman.sock) with
# the project's containers.conf, unless one already answers there.
set -euo pipefail
SOCK=${SOCK:-/run/enclave/podman.sock}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")/.." && pwd)/deploy/containers.conf}
if curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  exit 0
fi
mkdir -p "$(dirname "$SOCK")"
rm -f "$SOCK"
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
