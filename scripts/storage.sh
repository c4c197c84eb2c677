#!/usr/bin/env bash
# Prepares Podman's container storage so every sandbox gets a disk limit:
# a btrfs filesystem with simple quotas (the kernels of these hosts have no
# XFS or ext4 quota support, and overlay's size option needs XFS project
# quotas), in a sparse loop file, mounted at $ROOT/storage. Simple quotas
# (Linux 6.7+) count what each container writes, not the image it shares,
# and cost little; full qgroups make every delete a slow rescan. Writes the
# storage.conf Podman reads through CONTAINERS_STORAGE_CONF ($CONF).
# Idempotent.
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
uuid=$(btrfs filesystem show "$mnt" | awk '/uuid:/ {print $NF; exit}')
mode=$(cat "/sys/fs/btrfs/$uuid/qgroups/mode" 2>/dev/null || echo none)
if [ "$mode" != squota ]; then
  [ "$mode" = none ] || btrfs quota disable "$mnt"
  command -v python3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-minimal >/dev/null
  # btrfs-progs of Debian 12 predates `quota enable --simple`: the ioctl
  # BTRFS_IOC_QUOTA_CTL (0xc0109428) with BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA (4).
  if ! python3 -c 'import fcntl, os, struct, sys; fcntl.ioctl(os.open(sys.argv[1], os.O_RDONLY), 0xc0109428, struct.pack("QQ", 4, 0))' "$mnt"; then
    echo "storage: this kernel has no btrfs simple quotas (Linux 6.7+); keeping Podman's default storage: disk limits are NOT enforced" >&2
    umount "$mnt"
    default_conf
    exit 0
  fi
fi
cat >"$CONF" <<CONF
# written by scripts/storage.sh: btrfs storage with simple quotas, so each
# sandbox gets a disk limit (Podman's storage option size).
[storage]
driver = "btrfs"
graphroot = "$mnt"
runroot = "$RUNROOT"
CONF
echo "storage: btrfs with simple quotas at $mnt"
