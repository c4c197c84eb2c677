#!/usr/bin/env bash
# Sets up rootless Podman for an unprivileged user (default enclave-rootless):
# creates the user (with /etc/subuid and /etc/subgid ranges), a runtime dir
# (no systemd login session here), the user's Podman API service with the
# project's containers.conf, and the sandbox image in the user's storage. It
# copies bin/ where the user can run it. Prints the variables to export.
# Run as root; idempotent.
set -euo pipefail
USER_NAME=${ROOTLESS_USER:-enclave-rootless}
IMAGE=${IMAGE:-localhost/enclave-python:3.11}
top=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "rootless setup needs root (it creates a user)" >&2; exit 1; }
id "$USER_NAME" >/dev/null 2>&1 || useradd -m "$USER_NAME"
uid=$(id -u "$USER_NAME")
grep -q "^$USER_NAME:" /etc/subuid || usermod --add-subuids 200000-265535 "$USER_NAME"
grep -q "^$USER_NAME:" /etc/subgid || usermod --add-subgids 200000-265535 "$USER_NAME"
run=/run/user/$uid
mkdir -p "$run"
chown "$USER_NAME": "$run"
chmod 700 "$run"
install -o "$USER_NAME" -m 644 "$top/deploy/containers.conf" "$run/containers.conf"
as_user() { su -s /bin/bash "$USER_NAME" -c "cd ~ && unset CONTAINERS_STORAGE_CONF && export XDG_RUNTIME_DIR=$run CONTAINERS_CONF=$run/containers.conf && $*"; }

sock=$run/podman/podman.sock
if ! curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  as_user "mkdir -p $run/podman && rm -f $sock && (nohup podman system service --time=0 unix://$sock >$run/podman-service.log 2>&1 &)"
  for _ in $(seq 1 100); do
    curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null || { cat "$run/podman-service.log" >&2; exit 1; }
fi

if ! as_user "podman image exists $IMAGE" 2>/dev/null; then
  tarball=$(mktemp /var/tmp/enclave-image.XXXXXX.tar)
  podman save -q "$IMAGE" -o "$tarball"
  chmod 644 "$tarball"
  as_user "podman load -q -i $tarball" >/dev/null
  rm -f "$tarball"
fi

# The binaries, where the user can execute them (the checkout may sit under
# a directory the user cannot enter).
rm -rf "$run/enclave-bin"
cp -r "$top/bin" "$run/enclave-bin"
chown -R "$USER_NAME": "$run/enclave-bin"

echo "ENCLAVE_ROOTLESS_PODMAN_URL=unix://$sock"
echo "ENCLAVE_ROOTLESS_UID=$uid"
echo "ENCLAVE_ROOTLESS_BIN_DIR=$run/enclave-bin"
