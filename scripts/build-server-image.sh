#!/usr/bin/env bash
# Builds the container image of enclave itself (no registry needed): the
# static server, the kubernetes backend and every tool plugin on an empty
# base, with /tmp (go-plugin's sockets) and an unprivileged user.
#   IMAGE    the reference to build (default localhost/enclave:latest)
#   BIN_DIR  the built binaries (make build)
set -euo pipefail
IMAGE=${IMAGE:-localhost/enclave:latest}
BIN_DIR=${BIN_DIR:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/usr/local/bin/plugins" "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$BIN_DIR/enclave" "$root/usr/local/bin/"
# The Podman backend has no Podman in a pod to talk to.
for p in "$BIN_DIR"/plugins/enclave-backend-kubernetes "$BIN_DIR"/plugins/enclave-tool-*; do
  cp "$p" "$root/usr/local/bin/plugins/"
done
echo 'enclave:x:65532:65532:enclave:/tmp:/sbin/nologin' >"$root/etc/passwd"
echo 'enclave:x:65532:' >"$root/etc/group"
tar -C "$root" --owner=0 --group=0 -c . | podman import \
  --change 'ENTRYPOINT ["/usr/local/bin/enclave"]' --change 'CMD ["server"]' \
  --change 'USER 65532:65532' --change 'WORKDIR /tmp' --change 'ENV ENCLAVE_HOST=0.0.0.0' \
  --change 'EXPOSE 8000' - "$IMAGE" >/dev/null
echo "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
