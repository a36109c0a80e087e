# shellcheck shell=bash
# Certificates and kubeconfigs of the real node, signed by the cluster's CA ($STATE/pki/ca.{crt,key},
# made by cluster-pki.sh). Kept in $REALNODE_DIR/pki and made again only when the CA changed (the
# cluster PKI was regenerated) or the node's IP moved out of the kubelet's serving certificate.

# realnode_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES] : NAME.{crt,key} in $REALNODE_PKI
realnode_cert() {
  local name=$1 subject=$2 usage=$3 sans=${4:-} ext dir=$REALNODE_PKI
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [[ -n $sans ]] && ext+=$'\n'"subjectAltName=$sans"
  (
    set -e
    umask 077
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$name.key" 2>/dev/null
    openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr"
    openssl x509 -req -in "$dir/$name.csr" -CA "$CLUSTER_CA.crt" -CAkey "$CLUSTER_CA.key" -CAcreateserial \
      -CAserial "$dir/ca.srl" -days 3650 -sha256 -extfile <(printf '%s\n' "$ext") -out "$dir/$name.crt" 2>/dev/null
    rm -f "$dir/$name.csr"
  ) || die "realnode: signing the $name certificate failed"
}

# realnode_cert_ok NAME [IP] : NAME.crt exists, is signed by the current CA and (if given) covers IP
realnode_cert_ok() {
  local crt=$REALNODE_PKI/$1.crt
  [[ -f $crt && -f $REALNODE_PKI/$1.key ]] || return 1
  openssl verify -CAfile "$CLUSTER_CA.crt" "$crt" >/dev/null 2>&1 || return 1
  [[ -z ${2:-} ]] || openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | grep -qwF "IP Address:$2"
}

# realnode_kubeconfig FILE CERT_NAME : kubeconfig for the local apiserver with that client certificate
realnode_kubeconfig() (
  umask 077
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubedev-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $CLUSTER_CA.crt
users:
- name: $2
  user:
    client-certificate: $REALNODE_PKI/$2.crt
    client-key: $REALNODE_PKI/$2.key
contexts:
- name: kubedev-test
  context: {cluster: kubedev-test, user: $2}
current-context: kubedev-test
EOF
)

# realnode_pki NODE_IP : the kubelet's client and serving certificates, kube-proxy's client certificate
realnode_pki() {
  local ip=$1
  [[ -f $CLUSTER_CA.crt && -f $CLUSTER_CA.key ]] ||
    die "realnode: no cluster CA at $CLUSTER_CA.{crt,key} (is the cluster part up?)"
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$REALNODE_PKI"
  # the Node authorizer and NodeRestriction know a kubelet by exactly this user and group
  realnode_cert_ok kubelet-client ||
    realnode_cert kubelet-client "/O=system:nodes/CN=system:node:$REALNODE_NAME" clientAuth
  # what the apiserver connects to for logs and exec (it dials the node's InternalIP)
  realnode_cert_ok kubelet-serving "$ip" ||
    realnode_cert kubelet-serving "/CN=system:node:$REALNODE_NAME" serverAuth \
      "IP:$ip,IP:127.0.0.1,DNS:$REALNODE_NAME,DNS:localhost"
  # the built-in ClusterRoleBinding system:node-proxier grants this user what kube-proxy needs
  realnode_cert_ok kube-proxy || realnode_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  rm -f "$REALNODE_PKI/ca.srl"
  realnode_kubeconfig "$REALNODE_DIR/kubelet.kubeconfig" kubelet-client
  realnode_kubeconfig "$REALNODE_DIR/kube-proxy.kubeconfig" kube-proxy
}
