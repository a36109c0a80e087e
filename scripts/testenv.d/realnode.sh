# shellcheck shell=bash
# A real node for the test cluster (scripts/testenv up --node real): a kubelet and kube-proxy of the
# control plane's Kubernetes version, containerd (Debian's, its own instance beside dockerd's) with
# runc, a CNI bridge network, and a pause image built from Kubernetes' pause.c. Pods really run, so
# the sample app serves through its NodePort, `kubectl logs` and `kubectl exec` work.
#
# The node is tainted kubedev.io/real-node=true:NoSchedule and labelled kubedev.io/real-node=true:
# the kwok-based tests never land on it; real-node tests tolerate the taint and select the label.
# Images come only from the test registry (127.0.0.1:5000, plain http); nothing is pulled from the
# internet. No cluster DNS: the sample app and its CronJob resolve no cluster names.
_realnode_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=docker-apt.sh
source "$_realnode_here/docker-apt.sh"
# shellcheck source=realnode-pause.sh
source "$_realnode_here/realnode-pause.sh"
# shellcheck source=realnode-pki.sh
source "$_realnode_here/realnode-pki.sh"
# shellcheck source=realnode-cleanup.sh
source "$_realnode_here/realnode-cleanup.sh"

REALNODE_NAME=real-node-0
REALNODE_LABEL=kubedev.io/real-node   # label and taint key, value "true"
# this node's pods: spec.podCIDR and the CNI IPAM range, apart from the kwok nodes' 10.244.0-1.0/24
REALNODE_POD_CIDR=10.244.200.0/24
REALNODE_DIR=$STATE/realnode          # rendered configs, certificates, what down must undo
REALNODE_PKI=$REALNODE_DIR/pki
CLUSTER_CA=$STATE/pki/ca              # .crt and .key, made by the cluster part
# machine-wide: one real node per machine (the kubelet's port 10250 is fixed anyway)
REALNODE_CONTAINERD_ROOT=/var/lib/kubedev-containerd   # images stay here between down and up
REALNODE_CONTAINERD_STATE=/run/kubedev-containerd
REALNODE_CONTAINERD_SOCK=$REALNODE_CONTAINERD_STATE/containerd.sock
REALNODE_KUBELET_ROOT=/var/lib/kubedev-kubelet
REALNODE_CNI_BRIDGE=kubedev-cni0
REALNODE_CNI_IPAM_DIR=/run/kubedev-cni
CRICTL_VERSION=${KUBEDEV_CRICTL_VERSION:-v1.37.0}
REALNODE_PORTS=(10250 10248 10256 10249)   # kubelet, its healthz, kube-proxy healthz, its metrics

realnode_bin() { echo "$CACHE/kubernetes-$K8S_VERSION/$1"; }
realnode_kubectl() { "$(realnode_bin kubectl)" --kubeconfig "$STATE/kubeconfig" --request-timeout 20s "$@"; }
realnode_crictl() { "$CACHE/cri-tools-$CRICTL_VERSION/crictl" --config "$REALNODE_DIR/crictl.yaml" "$@"; }
realnode_ctr() { ctr --address "$REALNODE_CONTAINERD_SOCK" --namespace k8s.io "$@"; }

realnode_running() {
  daemon_pid realnode-containerd >/dev/null && daemon_pid realnode-kubelet >/dev/null &&
    daemon_pid realnode-kube-proxy >/dev/null
}

# realnode_render TEMPLATE OUT NAME=VALUE... : TEMPLATE with every @NAME@ replaced by VALUE
realnode_render() {
  local text kv out=$2
  text=$(<"$_realnode_here/$1"); shift 2
  for kv in "$@"; do text=${text//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$text" > "$out"
}

# realnode_node_ip : the IPv4 address of the interface the default route uses
realnode_node_ip() {
  local dev ip
  dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  [[ -n $dev ]] || die "realnode: no IPv4 default route, so no address for the node (see: ip -4 route)"
  ip=$(ip -4 -o addr show dev "$dev" scope global | awk '{split($4, a, "/"); print a[1]; exit}')
  [[ -n $ip ]] || die "realnode: interface $dev has no global IPv4 address"
  echo "$ip"
}

# realnode_check_host : root, usable cgroups, a cluster
realnode_check_host() {
  need_root "a real node (kubelet, containerd, iptables)"
  local c probe
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    for c in cpu memory pids; do
      grep -qw "$c" /sys/fs/cgroup/cgroup.controllers || die "realnode: cgroup v2 controller $c is not enabled at /sys/fs/cgroup"
    done
    probe=/sys/fs/cgroup/kubedev-probe.$$
  else
    for c in cpu cpuacct cpuset memory pids devices freezer; do
      mountpoint -q "/sys/fs/cgroup/$c" || [[ -e /sys/fs/cgroup/$c/tasks ]] ||
        die "realnode: cgroup v1 controller $c is not mounted under /sys/fs/cgroup (the kubelet and runc need it)"
    done
    probe=/sys/fs/cgroup/memory/kubedev-probe.$$
  fi
  if ! mkdir "$probe" 2>/dev/null; then
    die "realnode: cannot create cgroups ($probe): the cgroup filesystem is read-only for this process"
  fi
  rmdir "$probe"
  [[ -f $STATE/kubeconfig ]] || die "realnode: no $STATE/kubeconfig: the cluster part must be up first"
}

# realnode_check_ports PORT... : die naming whoever listens on one of them
realnode_check_ports() {
  local p who
  for p in "$@"; do
    who=$(ss -Hltnp "sport = :$p" 2>/dev/null | awk '{print $4, $6}' | head -n1)
    [[ -z $who ]] || die "realnode: port $p is in use ($who); the kubelet and kube-proxy need ${REALNODE_PORTS[*]}"
  done
}

# realnode_tools : apt packages, the kubelet/kube-proxy/kubectl build, crictl
realnode_tools() {
  apt_install containerd runc containernetworking-plugins iptables curl
  [[ -x /usr/lib/cni/bridge ]] || die "realnode: /usr/lib/cni/bridge missing after installing containernetworking-plugins"
  "$_realnode_here/build-kubernetes.sh" "$K8S_VERSION" "$CACHE/kubernetes-$K8S_VERSION" kubelet kube-proxy kubectl ||
    die "realnode: building kubelet/kube-proxy $K8S_VERSION failed"
  if [[ ! -x $CACHE/cri-tools-$CRICTL_VERSION/crictl ]]; then
    say "realnode: building crictl $CRICTL_VERSION (to stop and remove pods on down)"
    command -v go >/dev/null || die "realnode: crictl is built from source and 'go' is not on PATH"
    GOBIN=$CACHE/cri-tools-$CRICTL_VERSION CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' \
      "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" || die "realnode: building crictl failed"
  fi
}

# realnode_configs NODE_IP : render containerd, registry, CNI, kubelet and kube-proxy configuration
realnode_configs() {
  local ip=$1 hosts=$REALNODE_DIR/certs.d/127.0.0.1:$REGISTRY_PORT
  mkdir -p "$REALNODE_DIR/net.d" "$hosts"
  realnode_render realnode-containerd.toml "$REALNODE_DIR/containerd.toml" \
    CONTAINERD_ROOT="$REALNODE_CONTAINERD_ROOT" CONTAINERD_STATE="$REALNODE_CONTAINERD_STATE" \
    CONTAINERD_SOCK="$REALNODE_CONTAINERD_SOCK" PAUSE_IMAGE="$PAUSE_IMAGE" CNI_BIN_DIR=/usr/lib/cni \
    CNI_CONF_DIR="$REALNODE_DIR/net.d" REGISTRY_HOSTS_DIR="$REALNODE_DIR/certs.d"
  realnode_render realnode-hosts.toml "$hosts/hosts.toml" REGISTRY="127.0.0.1:$REGISTRY_PORT"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' \
    "$REALNODE_CONTAINERD_SOCK" "$REALNODE_CONTAINERD_SOCK" > "$REALNODE_DIR/crictl.yaml"
  # the firewall plugin accepts pod traffic in FORWARD, whose policy dockerd sets to DROP
  realnode_render realnode-cni.conflist "$REALNODE_DIR/net.d/10-kubedev.conflist" \
    CNI_NETWORK=kubedev-pods CNI_BRIDGE="$REALNODE_CNI_BRIDGE" CNI_IPAM_DIR="$REALNODE_CNI_IPAM_DIR" \
    POD_CIDR="$REALNODE_POD_CIDR"
  realnode_render realnode-kubelet.yaml "$REALNODE_DIR/kubelet.yaml" \
    CONTAINERD_SOCK="$REALNODE_CONTAINERD_SOCK" NODE_IP="$ip" PKI_DIR="$REALNODE_PKI" \
    CLUSTER_CA="$CLUSTER_CA" TAINT_KEY="$REALNODE_LABEL" KUBELET_ROOT="$REALNODE_KUBELET_ROOT"
  realnode_render realnode-kube-proxy.yaml "$REALNODE_DIR/kube-proxy.yaml" \
    NODE_NAME="$REALNODE_NAME" KUBECONFIG="$REALNODE_DIR/kube-proxy.kubeconfig"
}

realnode_containerd_up() {
  daemon_pid realnode-containerd >/dev/null && return 0
  [[ -S $REALNODE_CONTAINERD_SOCK ]] && ctr --address "$REALNODE_CONTAINERD_SOCK" version >/dev/null 2>&1 &&
    die "realnode: a containerd not started by this checkout serves $REALNODE_CONTAINERD_SOCK"
  mkdir -p "$REALNODE_CONTAINERD_ROOT" "$REALNODE_CONTAINERD_STATE"
  start_daemon realnode-containerd containerd --config "$REALNODE_DIR/containerd.toml"
  wait_for "containerd (real node)" 60 realnode-containerd ctr --address "$REALNODE_CONTAINERD_SOCK" version
  # containerd answers before its CRI plugin is initialised; the kubelet gives up at once if it is not
  wait_for "containerd CRI (real node)" 60 realnode-containerd realnode_crictl info
}

# realnode_pause_image : import the locally built pause image once. Nothing may delete it, since it
# cannot be pulled: containerd >= 1.7 honours the pinned label; Debian 12's 1.6 ignores it, which is
# why the kubelet's image garbage collection is off (realnode-kubelet.yaml).
realnode_pause_image() {
  realnode_ctr images ls -q "name==$PAUSE_IMAGE" | grep -q . && return 0
  realnode_ctr images import "$(pause_archive)" >/dev/null || die "realnode: importing $PAUSE_IMAGE failed"
  realnode_ctr images label "$PAUSE_IMAGE" io.cri-containerd.pinned=pinned >/dev/null
}

# realnode_node_object : create the Node with its pod CIDR, label and taint before the kubelet
# registers, so it is never schedulable untainted (spec.podCIDR can only be set at creation)
realnode_node_object() {
  realnode_kubectl get node "$REALNODE_NAME" >/dev/null 2>&1 && return 0
  realnode_kubectl create -f - >/dev/null <<EOF || die "realnode: creating Node $REALNODE_NAME failed"
apiVersion: v1
kind: Node
metadata:
  name: $REALNODE_NAME
  labels: {$REALNODE_LABEL: "true"}
spec:
  podCIDR: $REALNODE_POD_CIDR
  podCIDRs: [$REALNODE_POD_CIDR]
  taints: [{key: $REALNODE_LABEL, value: "true", effect: NoSchedule}]
EOF
}

realnode_node_ready() {
  [[ $(realnode_kubectl get node "$REALNODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

realnode_kubelet_up() {
  daemon_pid realnode-kubelet >/dev/null && return 0
  realnode_check_ports 10250 10248
  mkdir -p "$REALNODE_KUBELET_ROOT"
  realnode_sysctls_save
  start_daemon realnode-kubelet "$(realnode_bin kubelet)" --config "$REALNODE_DIR/kubelet.yaml" \
    --kubeconfig "$REALNODE_DIR/kubelet.kubeconfig" --root-dir "$REALNODE_KUBELET_ROOT" \
    --hostname-override "$REALNODE_NAME" --node-ip "$1" --node-labels "$REALNODE_LABEL=true"
  wait_for "kubelet healthz" 90 realnode-kubelet curl -fsS http://127.0.0.1:10248/healthz
  wait_for "node $REALNODE_NAME Ready" 120 realnode-kubelet realnode_node_ready
}

realnode_kube_proxy_up() {
  daemon_pid realnode-kube-proxy >/dev/null && return 0
  realnode_check_ports 10256 10249
  start_daemon realnode-kube-proxy "$(realnode_bin kube-proxy)" --config "$REALNODE_DIR/kube-proxy.yaml"
  # healthz turns 200 after the first full sync of the Service rules
  wait_for "kube-proxy healthz" 60 realnode-kube-proxy curl -fsS http://127.0.0.1:10256/healthz
}

# realnode_up : start what is missing; a failed start undoes everything, so nothing stays half up
# (testenv's own clean-up only covers parts that finished starting)
realnode_up() {
  realnode_check_host
  # before anything starts: the ports of whatever is about to be started
  daemon_pid realnode-kubelet >/dev/null || realnode_check_ports 10250 10248
  daemon_pid realnode-kube-proxy >/dev/null || realnode_check_ports 10256 10249
  realnode_tools
  realnode_kubectl get --raw /readyz >/dev/null 2>&1 || die "realnode: the cluster's apiserver does not answer (scripts/testenv up)"
  # a background subshell: errexit holds inside it (it would be off inside an `if` condition)
  realnode_start &
  if ! wait "$!"; then
    say "realnode: start failed; undoing it"
    realnode_down
    die "realnode: could not start the real node (daemon logs: $STATE/logs/realnode-*.log)"
  fi
}

realnode_start() {
  set -e
  local ip
  ip=$(realnode_node_ip)
  mkdir -p "$REALNODE_DIR"
  touch "$REALNODE_DIR/node-created"   # tells down to delete the Node object
  realnode_pki "$ip"
  realnode_configs "$ip"
  realnode_iptables_snapshot
  realnode_containerd_up
  realnode_pause_image
  realnode_node_object
  realnode_kubelet_up "$ip"
  realnode_kube_proxy_up
  say "realnode: $REALNODE_NAME Ready at $ip (taint $REALNODE_LABEL=true:NoSchedule)"
}

# realnode_remove_pods : stop and remove every pod sandbox (CNI DEL, netns, shm mounts, shims) via
# CRI; starts containerd again for that if it died with pods left behind
realnode_remove_pods() {
  [[ -x $CACHE/cri-tools-$CRICTL_VERSION/crictl && -f $REALNODE_DIR/crictl.yaml ]] || return 0
  if ! daemon_pid realnode-containerd >/dev/null; then
    compgen -G "$REALNODE_CONTAINERD_STATE/io.containerd.runtime.v2.task/k8s.io/*" >/dev/null || return 0
    say "realnode: starting containerd again to remove the pods it left"
    realnode_containerd_up
  fi
  local pods
  pods=$(realnode_crictl pods -q 2>/dev/null) || true
  if [[ -n $pods ]]; then
    # shellcheck disable=SC2086  # one id per word
    realnode_crictl stopp $pods >/dev/null || say "realnode: WARNING: crictl stopp failed"
    # shellcheck disable=SC2086
    realnode_crictl rmp --force $pods >/dev/null || say "realnode: WARNING: crictl rmp failed"
  fi
}

realnode_down() {
  local had_node=""
  # the node's directories are machine-wide: leave them alone while another checkout's node runs
  if ! daemon_pid realnode-containerd >/dev/null && [[ -S $REALNODE_CONTAINERD_SOCK ]] &&
    ctr --address "$REALNODE_CONTAINERD_SOCK" version >/dev/null 2>&1; then
    say "realnode: $REALNODE_CONTAINERD_SOCK is served by a containerd this checkout did not start; leaving it"
    return 0
  fi
  [[ -f $REALNODE_DIR/node-created ]] && had_node=1
  stop_daemon realnode-kube-proxy
  stop_daemon realnode-kubelet
  realnode_remove_pods
  stop_daemon realnode-containerd
  realnode_kill_shims
  realnode_unmount_under "$REALNODE_KUBELET_ROOT" "$REALNODE_CONTAINERD_STATE" "$REALNODE_CONTAINERD_ROOT"
  rm -rf "$REALNODE_KUBELET_ROOT" "$REALNODE_CONTAINERD_STATE" "$REALNODE_CNI_IPAM_DIR"
  # the kubelet's container log links in /var/log/containers point into its pod-logs directory
  find /var/log/containers -maxdepth 1 -type l -lname "$REALNODE_KUBELET_ROOT/*" -delete 2>/dev/null || true
  # directories the kubelet and containerd create on first use, if nothing else uses them
  rmdir /var/log/containers /run/netns 2>/dev/null || true
  realnode_cgroups_cleanup
  if ip link show "$REALNODE_CNI_BRIDGE" >/dev/null 2>&1; then ip link delete "$REALNODE_CNI_BRIDGE" || true; fi
  if [[ -x $(realnode_bin kube-proxy) ]] && [[ -f $REALNODE_DIR/iptables-chains-before ]]; then
    "$(realnode_bin kube-proxy)" --cleanup >/dev/null 2>&1 || say "realnode: WARNING: kube-proxy --cleanup reported errors"
  fi
  realnode_iptables_cleanup
  realnode_sysctls_restore
  if [[ -n $had_node ]]; then
    if realnode_kubectl get --raw /readyz >/dev/null 2>&1; then
      realnode_kubectl delete node "$REALNODE_NAME" --ignore-not-found >/dev/null || say "realnode: WARNING: deleting Node $REALNODE_NAME failed"
      # pods bound to the node are gone with it; remove their API objects now, not after pod GC
      realnode_kubectl delete pods --all-namespaces --field-selector "spec.nodeName=$REALNODE_NAME" \
        --force --grace-period=0 >/dev/null 2>&1 || true
    else
      say "realnode: apiserver unreachable; Node $REALNODE_NAME stays in the API"
    fi
    rm -f "$REALNODE_DIR/node-created"
  fi
}
