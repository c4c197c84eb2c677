#!/usr/bin/env bash
# Installs what enclave needs on Debian/Ubuntu: Podman with runc (crun fails
# on hybrid cgroups), catatonit (init), rootless helpers, debootstrap (the
# sandbox image), curl; with --test also prometheus (Prometheus and promtool
# for the metrics tests), protoc (make lint checks the proto) and what the
# Kubernetes test cluster needs (CNI plugins, openssl, iproute2); with
# --proto only protoc; with --web only what make web needs; npm when the machine has none (make web fetches the
# pages' pinned renderers from the npm registry); with --test also Chromium
# (the pages' browser tests) and the npm registry's MCP test clients run on
# the machine's Node.js. Root only; otherwise it says what is missing.
set -euo pipefail
pkgs=(podman runc catatonit uidmap slirp4netns fuse-overlayfs debootstrap curl)
case "${1:-}" in
--test) pkgs+=(prometheus protobuf-compiler containernetworking-plugins openssl iproute2 chromium fonts-dejavu-core) ;;
--proto) pkgs=(protobuf-compiler) ;;
--web) pkgs=(openssl) ;;
esac
if [ "${1:-}" != --proto ] && ! command -v npm >/dev/null; then
  pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null; then
  echo "Go is not installed (need Go 1.26+ on PATH)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages: ${missing[*]}" >&2
  echo "install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
