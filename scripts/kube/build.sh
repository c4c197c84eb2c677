#!/usr/bin/env bash
# Builds the pinned test cluster's binaries into $KUBE_BIN (default
# .cache/kube/bin), once: Kubernetes v1.37.2 (apiserver, controller-manager,
# scheduler, kubelet, kubectl) and etcd from scripts/kube/tools, containerd
# v2.3.7 with its runc shim and ctr. A stamp records what was built, so a
# second run costs nothing; the Go build cache makes a rebuild take seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
KUBE_VERSION=v1.37.2
CONTAINERD_VERSION=v2.3.7
KUBE_BIN=${KUBE_BIN:-$PWD/.cache/kube/bin}
stamp="$KUBE_BIN/.built-$KUBE_VERSION-$CONTAINERD_VERSION"
[ -f "$stamp" ] && exit 0
mkdir -p "$KUBE_BIN"
# --background: make test starts the build this way first, so that the ~20 min
# a fresh machine spends here overlap the other suites; a later run waits.
. scripts/build-once.sh
build_once "the test cluster's binaries" "$KUBE_BIN/../build" "${1:-}"
[ -f "$stamp" ] && exit 0
start=$(date +%s)
export CGO_ENABLED=0
ver=${KUBE_VERSION#v}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=${ver%%.*}"
minor=${ver#*.}; minor=${minor%%.*}
ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
(
  cd scripts/kube/tools
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    echo "build $c $KUBE_VERSION"
    go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$KUBE_BIN/$c" "k8s.io/kubernetes/cmd/$c"
  done
  echo "build etcd"
  go build -mod=readonly -trimpath -ldflags "-s -w" -o "$KUBE_BIN/etcd" ./etcd
)
# containerd outside that module, so the two dependency graphs do not mix.
for c in containerd containerd-shim-runc-v2 ctr; do
  echo "build $c $CONTAINERD_VERSION"
  GOFLAGS=-mod=mod GOBIN="$KUBE_BIN" go install -trimpath -ldflags "-s -w" "github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD_VERSION"
done
touch "$stamp"
echo "cluster binaries built in $(($(date +%s) - start)) s"
