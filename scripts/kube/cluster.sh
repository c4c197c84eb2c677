#!/usr/bin/env bash
# A real single-node Kubernetes cluster for enclave's tests, on loopback
# only: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and containerd (runc, CNI bridge without a route out), from the
# binaries scripts/kube/build.sh builds. Everything lives under $KUBE_WORK
# and is private: its own containerd root, sockets, runc root, CNI config,
# bridge and subnet, so Podman's storage and network are never touched.
#
#   cluster.sh up        start it (after tearing down any leftover) and wait
#                        for the node to be Ready; prints KUBECONFIG=...
#   cluster.sh down      stop everything, by PID, and remove what it left
#                        (mounts, network namespaces, cgroups, the bridge)
#   cluster.sh import I  import the local Podman image I into the cluster
#   cluster.sh env       print the variables the tests use
#
# Facts this rests on (versions, flags, pitfalls): the cluster notes in the
# README's "Testing on Kubernetes".
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KUBE_BIN=${KUBE_BIN:-$ROOT/.cache/kube/bin}
W=${KUBE_WORK:-/var/lib/enclave-kube}
API_PORT=${KUBE_API_PORT:-16443}
ETCD_PORT=${KUBE_ETCD_PORT:-12379}
BRIDGE=enclk8s0
SUBNET=10.244.0.0/24
SERVICE_RANGE=10.96.0.0/24
SERVICE_IP=10.96.0.1
PAUSE_IMAGE=localhost/enclave-pause:1
NODE=$(hostname)
export PATH="$KUBE_BIN:$PATH"

log() { echo "cluster: $*" >&2; }

kc() { kubectl --kubeconfig "$W/admin.kubeconfig" "$@"; }

# start NAME CMD...: run in the background, logging to $W/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$W/$name.log" 2>&1 &
  echo $! >"$W/$name.pid"
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds, bounded.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "$what not ready after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

pki() {
  local p=$W/pki
  mkdir -p "$p"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$p/ca.key" -out "$p/ca.crt" \
    -days 3 -subj /CN=enclave-test-ca 2>/dev/null
  # issue NAME SUBJECT EXTENSIONS
  issue() {
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$p/$1.key" -out "$p/$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$p/$1.ext"
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -out "$p/$1.crt" -days 3 -extfile "$p/$1.ext" 2>/dev/null
  }
  issue apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
  issue admin "/O=system:masters/CN=enclave-admin" "extendedKeyUsage=clientAuth"
  issue kubelet "/O=system:nodes/CN=system:node:$NODE" "extendedKeyUsage=clientAuth"
  issue kubelet-serving "/CN=$NODE" "subjectAltName=DNS:$NODE,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
  issue controller-manager /CN=system:kube-controller-manager "extendedKeyUsage=clientAuth"
  issue scheduler /CN=system:kube-scheduler "extendedKeyUsage=clientAuth"
  issue apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  for who in admin kubelet controller-manager scheduler; do
    cat >"$W/$who.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: enclave-test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$p/ca.crt"}
users:
- name: $who
  user: {client-certificate: "$p/$who.crt", client-key: "$p/$who.key"}
contexts:
- name: enclave-test
  context: {cluster: enclave-test, user: $who}
current-context: enclave-test
EOF
  done
}

containerd_config() {
  mkdir -p "$W/cni/net.d" "$W/cni/ipam" "$W/containerd"
  cat >"$W/cni/net.d/10-enclave.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "enclave-test", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": false, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET"}]], "dataDir": "$W/cni/ipam"}}]}
EOF
  cat >"$W/containerd.toml" <<EOF
version = 3
root = '$W/containerd/root'
state = '$W/containerd/state'
[grpc]
  address = '$W/containerd.sock'
[ttrpc]
  address = '$W/containerd.sock.ttrpc'
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '$PAUSE_IMAGE'
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    # Without CAP_SYS_RESOURCE every pod fails to start otherwise.
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '$(command -v runc)'
          Root = '$W/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '$W/cni/net.d'
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
EOF
}

kubelet_config() {
  mkdir -p "$W/kubelet"
  cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# These machines run cgroup v1 (hybrid); 1.37 still allows it when asked.
failCgroupV1: false
cgroupDriver: cgroupfs
address: 127.0.0.1
readOnlyPort: 0
failSwapOn: false
# The hard nofile limit here is 20000.
maxOpenFiles: 16384
containerRuntimeEndpoint: unix://$W/containerd.sock
tlsCertFile: $W/pki/kubelet-serving.crt
tlsPrivateKeyFile: $W/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $W/pki/ca.crt}
authorization: {mode: AlwaysAllow}
# A pod spec has no pids limit: the kubelet's is every sandbox's.
podPidsLimit: 1024
maxPods: 250
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
}

pause_image() {
  if ! podman image exists "$PAUSE_IMAGE"; then
    local d
    d=$(mktemp -d)
    cp /usr/bin/catatonit "$d/catatonit"
    tar -C "$d" -c catatonit | podman import --change 'ENTRYPOINT=["/catatonit","-P"]' - "$PAUSE_IMAGE" >/dev/null
    rm -rf "$d"
  fi
  import "$PAUSE_IMAGE"
}

import() {
  podman save --format oci-archive "$1" | ctr --address "$W/containerd.sock" -n k8s.io images import - >/dev/null
}

up() {
  [ -x "$KUBE_BIN/kube-apiserver" ] || { log "no cluster binaries in $KUBE_BIN: run scripts/kube/build.sh"; exit 1; }
  getent hosts "$NODE" | grep -q '^127\.' || { log "the host name $NODE must resolve to a loopback address (the API server reaches the kubelet by it)"; exit 1; }
  down >/dev/null 2>&1 || true
  local t0=$SECONDS
  mkdir -p "$W"
  pki
  containerd_config
  kubelet_config
  start etcd etcd --name node --data-dir "$W/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-cluster "node=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --unsafe-no-fsync
  start containerd containerd --config "$W/containerd.toml"
  wait_for containerd 30 ctr --address "$W/containerd.sock" version
  pause_image
  start apiserver kube-apiserver --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --service-cluster-ip-range="$SERVICE_RANGE" --endpoint-reconciler-type=none \
    --kubelet-preferred-address-types=Hostname --client-ca-file="$W/pki/ca.crt" \
    --tls-cert-file="$W/pki/apiserver.crt" --tls-private-key-file="$W/pki/apiserver.key" \
    --kubelet-client-certificate="$W/pki/apiserver-kubelet.crt" --kubelet-client-key="$W/pki/apiserver-kubelet.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$W/pki/sa.pub" \
    --service-account-signing-key-file="$W/pki/sa.key" --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction --profiling=false
  wait_for "kube-apiserver" 90 kc get --raw /readyz
  start controller-manager kube-controller-manager --kubeconfig="$W/controller-manager.kubeconfig" --bind-address=127.0.0.1 \
    --use-service-account-credentials=true --service-account-private-key-file="$W/pki/sa.key" --root-ca-file="$W/pki/ca.crt" \
    --leader-elect=false
  start scheduler kube-scheduler --kubeconfig="$W/scheduler.kubeconfig" --bind-address=127.0.0.1 --leader-elect=false
  start kubelet kubelet --config="$W/kubelet.yaml" --kubeconfig="$W/kubelet.kubeconfig" --root-dir="$W/kubelet" \
    --cert-dir="$W/kubelet/pki" --hostname-override="$NODE"
  wait_for "node $NODE Ready" 120 bash -c "kubectl --kubeconfig '$W/admin.kubeconfig' get node '$NODE' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
  wait_for "the default ServiceAccount" 60 kc -n default get serviceaccount default
  log "up in $((SECONDS - t0)) s: KUBECONFIG=$W/admin.kubeconfig"
  echo "KUBECONFIG=$W/admin.kubeconfig"
}

# stop NAME: SIGTERM, then SIGKILL after 5 s, by the PID recorded at start.
stop() {
  local f=$W/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  local t0=$SECONDS
  [ -d "$W" ] || return 0
  stop kubelet
  if [ -S "$W/containerd.sock" ]; then
    local c="ctr --address $W/containerd.sock -n k8s.io"
    for t in $(timeout 20 $c tasks ls -q 2>/dev/null); do timeout 10 $c tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop scheduler
  stop controller-manager
  stop apiserver
  stop etcd
  stop containerd
  # Shims outlive containerd; theirs carry the work dir's socket address.
  pkill -9 -f "containerd-shim-runc-v2 .*$W/containerd.sock" 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f "containerd-shim-runc-v2 .*$W/containerd.sock" >/dev/null || break; sleep 0.1; done
  # Mounts under the work dir, deepest first; then the pods' network
  # namespaces (containerd names them cni-*), cgroups and the bridge.
  awk -v w="$W" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do ip netns delete "$ns" 2>/dev/null || true; done
  for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  rm -rf "$W" /var/lib/kubelet/device-plugins /var/log/containers /var/log/pods /run/containerd/s
  rmdir /var/lib/kubelet 2>/dev/null || true
  log "down in $((SECONDS - t0)) s"
}

envvars() {
  echo "KUBECONFIG=$W/admin.kubeconfig"
  echo "ENCLAVE_K8S_KUBECONFIG=$W/admin.kubeconfig"
}

case "${1:-}" in
up) up ;;
down) down ;;
import) import "$2" ;;
env) envvars ;;
*) echo "usage: $0 up|down|import IMAGE|env" >&2; exit 2 ;;
esac
