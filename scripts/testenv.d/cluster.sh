# shellcheck shell=bash
# The cluster: a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# on loopback, and kwok playing the kubelet of two fake nodes (stages in kwok-stages.yaml).
# Binaries are built from the Go module proxy and cached in $CACHE; certificates stay in $STATE/pki;
# etcd data is thrown away on down, so every up starts an empty cluster.
CLUSTER_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=cluster-pki.sh
source "$CLUSTER_HERE/cluster-pki.sh"

K8S_BIN=$CACHE/kubernetes-$K8S_VERSION
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION/etcd
KWOK_BIN=$CACHE/kwok-$KWOK_VERSION/kwok
SERVICE_CLUSTER_IP_RANGE=10.96.0.0/16   # its first address is in the apiserver certificate (cluster-pki.sh)
ETCD_PEER_PORT=${KUBEDEV_ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
CONTROLLER_MANAGER_PORT=${KUBEDEV_CONTROLLER_MANAGER_PORT:-$((APISERVER_PORT + 1))}
SCHEDULER_PORT=${KUBEDEV_SCHEDULER_PORT:-$((APISERVER_PORT + 2))}
KWOK_PORT=${KUBEDEV_KWOK_PORT:-$((APISERVER_PORT + 3))}
CLUSTER_DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)   # start order

cluster_kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

# The admin identity of $STATE/kubeconfig, without kubectl's start-up cost.
cluster_apiserver_ready() {
  curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

cluster_running() {
  local d
  for d in "${CLUSTER_DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
  cluster_apiserver_ready >/dev/null 2>&1
}

cluster_up() {
  command -v curl >/dev/null || die "curl is needed to check the control plane (apt-get install curl)"
  cluster_stop_daemons   # whatever is left of an earlier, half-dead cluster of this checkout
  cluster_check_ports
  cluster_build
  cluster_pki
  cluster_kubeconfigs

  # A fresh cluster every time: tests must not depend on what an earlier run left behind.
  rm -rf "$STATE/etcd"
  local d
  for d in "${CLUSTER_DAEMONS[@]}"; do : > "$STATE/logs/$d.log"; done

  cluster_start_etcd
  cluster_start_apiserver
  cluster_start_controllers
  cluster_start_kwok
  cluster_add_nodes
  say "cluster: ready (kubectl --kubeconfig $STATE/kubeconfig; context kubedev-test)"
}

cluster_down() {
  cluster_stop_daemons
  rm -rf "$STATE/etcd"
}

cluster_stop_daemons() {
  local i
  for ((i = ${#CLUSTER_DAEMONS[@]} - 1; i >= 0; i--)); do stop_daemon "${CLUSTER_DAEMONS[i]}"; done
}

cluster_check_ports() {
  local spec port var
  for spec in "$ETCD_PORT etcd KUBEDEV_ETCD_PORT" "$ETCD_PEER_PORT etcd-peer KUBEDEV_ETCD_PEER_PORT" \
    "$APISERVER_PORT kube-apiserver KUBEDEV_APISERVER_PORT" \
    "$CONTROLLER_MANAGER_PORT kube-controller-manager KUBEDEV_CONTROLLER_MANAGER_PORT" \
    "$SCHEDULER_PORT kube-scheduler KUBEDEV_SCHEDULER_PORT" "$KWOK_PORT kwok KUBEDEV_KWOK_PORT"; do
    read -r port name var <<<"$spec"
    port_free "$port" ||
      die "cluster: port 127.0.0.1:$port ($name) is in use by another process; stop it or choose another port with $var=..."
  done
}

# Build what is missing (each builder is a no-op when its binaries are cached).
cluster_build() {
  local missing=0 f
  for f in "$ETCD_BIN" "$KWOK_BIN" "$K8S_BIN"/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}; do
    [[ -x $f ]] || missing=1
  done
  ((missing)) || return 0
  command -v go >/dev/null ||
    die "cluster: the binaries are built from source and 'go' is not on PATH: install Go >= 1.26 (https://go.dev/doc/install)"
  say "cluster: building missing binaries into $CACHE (first run only; Kubernetes takes many minutes)"
  "$CLUSTER_HERE"/build-etcd.sh "$ETCD_VERSION" "$CACHE/etcd-$ETCD_VERSION" || die "building etcd $ETCD_VERSION failed"
  "$CLUSTER_HERE"/build-kwok.sh "$KWOK_VERSION" "$CACHE/kwok-$KWOK_VERSION" || die "building kwok $KWOK_VERSION failed"
  "$CLUSTER_HERE"/build-kubernetes.sh "$K8S_VERSION" "$K8S_BIN" kube-apiserver kube-controller-manager kube-scheduler kubectl ||
    die "building Kubernetes $K8S_VERSION failed"
}

cluster_kubeconfigs() {
  mkdir -p "$STATE/kubeconfigs"
  write_kubeconfig "$STATE/kubeconfig" admin
  local c
  for c in kube-controller-manager kube-scheduler kwok; do write_kubeconfig "$STATE/kubeconfigs/$c" "$c"; done
}

cluster_start_etcd() {
  local peer=http://127.0.0.1:$ETCD_PEER_PORT
  # Loopback only, so plain HTTP. --unsafe-no-fsync: the data is thrown away on down anyway, and
  # waiting for the disk on every write makes the whole control plane slow on a busy test machine.
  start_daemon etcd "$ETCD_BIN" --name kubedev --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "kubedev=$peer" \
    --unsafe-no-fsync --log-level warn
  wait_for "etcd health" 30 etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"
}

cluster_start_apiserver() {
  # --allow-privileged: privileged pods are allowed cluster-wide, so PodSecurity (on by default) is
  #   what rejects them in a restricted namespace, as on a real cluster.
  # --endpoint-reconciler-type=none: the "kubernetes" Service cannot point at a loopback address, and
  #   no pod on a kwok node calls the API.
  # --shutdown-send-retry-after: on SIGTERM, finish the requests in flight, answer new ones with
  #   "retry after", then close within 2 s; otherwise open watches hold a restart for 60 s.
  # --kubelet-preferred-address-types: reach the real node's kubelet (logs, exec) by its InternalIP;
  #   node names do not resolve here.
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --service-cluster-ip-range "$SERVICE_CLUSTER_IP_RANGE" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --endpoint-reconciler-type none \
    --shutdown-send-retry-after=true \
    --profiling=false
  wait_for "kube-apiserver /readyz" 90 kube-apiserver cluster_apiserver_ready
}

cluster_start_controllers() {
  local kc=$STATE/kubeconfigs/kube-controller-manager ks=$STATE/kubeconfigs/kube-scheduler
  # --use-service-account-credentials: each controller acts as its own service account, so RBAC is
  # exercised as on a real cluster. Higher client QPS: many Deployments at once must not queue.
  start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" \
    --leader-elect=false --controllers '*' \
    --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CLUSTER_IP_RANGE" \
    --kube-api-qps 100 --kube-api-burst 200 \
    --profiling=false
  start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$ks" --authentication-kubeconfig "$ks" --authorization-kubeconfig "$ks" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" \
    --leader-elect=false --profiling=false
  # /healthz is readable anonymously (their default always-allow paths); their serving certs are self-signed
  wait_for "kube-controller-manager /healthz" 60 kube-controller-manager \
    curl -kfsS --max-time 2 "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz"
  wait_for "kube-scheduler /healthz" 60 kube-scheduler curl -kfsS --max-time 2 "https://127.0.0.1:$SCHEDULER_PORT/healthz"
}

cluster_start_kwok() {
  mkdir -p "$STATE/kwok-home"
  # HOME of its own: kwok would also load a user's ~/.kwok/kwok.yaml (other stages) if one exists.
  # Short node Leases: a restarted kwok has a new holder identity and leaves the nodes alone until
  # the old Lease expires (the default 40 s would stall every pod that long).
  start_daemon kwok env HOME="$STATE/kwok-home" "$KWOK_BIN" \
    --kubeconfig "$STATE/kubeconfigs/kwok" --config "$CLUSTER_HERE/kwok-stages.yaml" \
    --manage-nodes-with-label-selector type=kwok \
    --node-lease-duration-seconds 10 \
    --server-address "127.0.0.1:$KWOK_PORT"
  wait_for "kwok /healthz" 60 kwok curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"
}

# cluster_nodes_ready [N] : exactly N (default 2) kwok nodes, all Ready
cluster_nodes_ready() {
  local ready
  ready=$(cluster_kubectl get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [[ $(grep -c '^True$' <<<"$ready") == "${1:-2}" && $(grep -c . <<<"$ready") == "${1:-2}" ]]
}

cluster_default_service_account() { cluster_kubectl -n default get serviceaccount default; }

cluster_add_nodes() {
  cluster_kubectl apply -f "$CLUSTER_HERE/kwok-nodes.yaml" >/dev/null
  wait_for "kwok nodes Ready" 60 kwok cluster_nodes_ready
  # Pods are refused until their namespace's "default" ServiceAccount exists; wait for the first one.
  wait_for "the default ServiceAccount" 60 kube-controller-manager cluster_default_service_account
}

# The scale benchmark and tests need room for thousands of pods (110 per node). The nodes past the two of
# kwok-nodes.yaml are made like them, labelled kubedev.io/extra-kwok-node, and removed again by asking
# for fewer: scripts/testenv kwok-nodes N (or up --kwok-nodes N). A fresh cluster always has two.
EXTRA_NODE_LABEL=kubedev.io/extra-kwok-node
MAX_KWOK_NODES=250   # one /24 pod CIDR and one node address each

cluster_extra_node() {
  local i=$1
  cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  labels:
    type: kwok
    $EXTRA_NODE_LABEL: "true"
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    node.kubernetes.io/instance-type: kwok
    topology.kubernetes.io/zone: kubedev-$( ((i % 2)) && echo b || echo a)
  annotations:
    kubedev.io/node-ip: 10.89.1.$i
    node.alpha.kubernetes.io/ttl: "0"
spec:
  podCIDR: 10.244.$i.0/24
  podCIDRs: [10.244.$i.0/24]
YAML
}

cluster_kwok_nodes() {
  local want=$1 i name
  [[ $want =~ ^[0-9]+$ ]] && ((want >= 2 && want <= MAX_KWOK_NODES)) ||
    die "kwok-nodes: expected a number of kwok nodes from 2 to $MAX_KWOK_NODES, got '$want'"
  cluster_running || die "kwok-nodes: the cluster does not run (scripts/testenv up)"
  for name in $(cluster_kubectl get nodes -l "$EXTRA_NODE_LABEL=true" -o name); do
    i=${name##*-}
    ((i < want)) || cluster_kubectl delete "$name" --wait=false >/dev/null
  done
  if ((want > 2)); then
    for ((i = 2; i < want; i++)); do cluster_extra_node "$i"; done | cluster_kubectl apply -f - >/dev/null
  fi
  wait_for "$want kwok nodes Ready" 120 kwok cluster_nodes_ready "$want"
  say "cluster: $want kwok nodes"
}
