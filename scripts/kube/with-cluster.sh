#!/usr/bin/env bash
# Runs a command with the test cluster up: scripts/kube/with-cluster.sh
# IMAGE... -- CMD ARGS. The images are imported from Podman; KUBECONFIG and
# ENCLAVE_K8S_KUBECONFIG name the cluster; it is torn down afterwards, even
# on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
images=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do images+=("$1"); shift; done
[ "${1:-}" = -- ] || { echo "usage: $0 IMAGE... -- CMD [ARGS]" >&2; exit 2; }
shift
trap 'scripts/kube/cluster.sh down' EXIT
eval "$(scripts/kube/cluster.sh up | grep '^KUBECONFIG=' | sed 's/^/export /')"
export ENCLAVE_K8S_KUBECONFIG="$KUBECONFIG"
for i in "${images[@]}"; do scripts/kube/cluster.sh import "$i"; done
"$@"
