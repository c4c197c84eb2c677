#!/usr/bin/env bash
# Builds a sandbox image from Debian packages (no registry needed):
# debootstrap a minimal bookworm with python3, bash, coreutils and EXTRA
# packages, add the `python` name ms-enclave-style tools call, and import it.
#   localhost/enclave-python:3.11   (default)
#   localhost/enclave-polyglot      (IMAGE=... EXTRA="gcc g++ nodejs ...", make image-polyglot)
# Does nothing when the image already exists (FORCE=1 rebuilds). --background
# starts the build and returns; a later run waits for it.
set -euo pipefail
IMAGE=${IMAGE:-localhost/enclave-python:3.11}
EXTRA=${EXTRA:-}
PODMAN=${PODMAN:-podman}

exists() { [ "${FORCE:-0}" != 1 ] && $PODMAN image exists "$IMAGE" 2>/dev/null; }
if exists; then
  echo "image $IMAGE exists"
  exit 0
fi
# --background: make test starts both images this way before the suites that
# need no image; a later run waits for that build instead of starting its own.
. "$(dirname "$0")/build-once.sh"
build_once "$IMAGE" "/var/tmp/enclave-image-$(printf %s "$IMAGE" | tr -c 'A-Za-z0-9.-' _)" "${1:-}"
if exists; then
  echo "built $IMAGE"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/enclave-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mirror=${DEBIAN_MIRROR:-$(awk '/^deb / && /bookworm/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
mirror=${mirror:-http://deb.debian.org/debian}
include=python3-minimal,python3,bash,coreutils,procps
for p in $EXTRA; do include="$include,$p"; done
echo "debootstrap: $include"
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
ln -sf python3 "$rootfs/usr/bin/python"
# Debian names some interpreters by version only.
[ -e "$rootfs/usr/bin/lua" ] || { [ -e "$rootfs/usr/bin/lua5.4" ] && ln -sf lua5.4 "$rootfs/usr/bin/lua"; }
mkdir -p "$rootfs/sandbox"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | $PODMAN import \
  --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'WORKDIR /' - "$IMAGE" >/dev/null
echo "built $IMAGE"
