#!/usr/bin/env bash
# Prepares Podman's container storage so every sandbox gets a disk limit:
# a btrfs filesystem with quotas (the kernels of these hosts have no XFS or
# ext4 quota support, and overlay's size option needs XFS project quotas),
# in a sparse loop file, mounted at $ROOT/storage. Writes the storage.conf
# that Podman reads through CONTAINERS_STORAGE_CONF ($CONF). Idempotent.
#
# ENCLAVE_STORAGE=default keeps Podman's default storage (no disk limits;
# the server says so at start and in /health). Root only.
set -euo pipefail
CONF=${CONF:?CONF must name the storage.conf to write}
ROOT=${ROOT:-/var/lib/enclave}
SIZE=${ENCLAVE_STORAGE_SIZE:-40G}
RUNROOT=${RUNROOT:-/run/enclave/storage}
mkdir -p "$(dirname "$CONF")"

default_conf() {
  printf '# written by scripts/storage.sh: Podman'"'"'s default storage (no disk limits)\n[storage]\ndriver = "overlay"\ngraphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n' >"$CONF"
}

if [ "${ENCLAVE_STORAGE:-btrfs}" = default ]; then
  default_conf
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "storage: not root; keeping Podman's default storage (no disk limits)" >&2
  default_conf
  exit 0
fi
if ! command -v mkfs.btrfs >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends btrfs-progs >/dev/null
fi
mnt=$ROOT/storage
img=$ROOT/storage.btrfs
mkdir -p "$mnt"
if ! mountpoint -q "$mnt"; then
  if [ ! -f "$img" ]; then
    truncate -s "$SIZE" "$img"
    mkfs.btrfs -q "$img" >/dev/null
  fi
  if ! mount -o loop "$img" "$mnt"; then
    echo "storage: cannot mount $img (no loop devices?); keeping Podman's default storage: disk limits are NOT enforced" >&2
    default_conf
    exit 0
  fi
fi
[ "$(stat -f -c %T "$mnt")" = btrfs ] || { echo "storage: $mnt is not btrfs" >&2; exit 1; }
btrfs quota enable "$mnt"
cat >"$CONF" <<CONF
# written by scripts/storage.sh: btrfs storage with quotas, so each sandbox
# gets a disk limit (Podman's storage option size).
[storage]
driver = "btrfs"
graphroot = "$mnt"
runroot = "$RUNROOT"
CONF
echo "storage: btrfs with quotas at $mnt"
