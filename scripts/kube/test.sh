#!/usr/bin/env bash
# make test-k8s: with the test cluster up (scripts/kube/with-cluster.sh),
# the kubernetes backend's contract and cluster tests, then the end-to-end
# cases with docker sandboxes on the cluster.
#   IMAGE         the sandbox image; SERVER_IMAGE enclave's own (make image-server)
#   BIN_DIR       built enclave binaries and plugins
#   E2E_RUN       the end-to-end cases run with sandboxes on the cluster
#   PODMAN_URL    the Podman service (the server loads both backends)
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${IMAGE:?}" "${SERVER_IMAGE:?}" "${BIN_DIR:?}" "${E2E_RUN:?}" "${PODMAN_URL:?}"
if [ "${1:-}" != --in-cluster ]; then
  exec scripts/kube/with-cluster.sh "$IMAGE" "$SERVER_IMAGE" -- "$0" --in-cluster
fi
export ENCLAVE_KUBECTL="${KUBE_BIN:-$PWD/.cache/kube/bin}/kubectl"
export ENCLAVE_REQUIRE_K8S=1 ENCLAVE_K8S_PULL_POLICY=Never ENCLAVE_TEST_IMAGE="$IMAGE"
go test -count=1 -timeout 10m ./backends/kubernetes
ENCLAVE_E2E_BACKEND=kubernetes ENCLAVE_REQUIRE_TOOLS=1 ENCLAVE_BIN_DIR="$BIN_DIR" ENCLAVE_REQUIRE_PODMAN=1 ENCLAVE_PODMAN_URL="$PODMAN_URL" \
  go test -count=1 -timeout 20m -run "$E2E_RUN" ./e2e/...
