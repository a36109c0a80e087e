# shellcheck shell=bash
# The cluster's certificates and keys, made once per checkout with openssl under $STATE/pki and kept
# across down/up (only etcd data is thrown away), plus the kubeconfigs that embed them.
# ECDSA P-256 everywhere: fast to generate, and accepted by Go, Python's ssl and service accounts (ES256).
PKI=$STATE/pki
KUBERNETES_SERVICE_IP=10.96.0.1   # first address of the service range: the "kubernetes" Service
PKI_LAYOUT=2   # bump when the set of files changes, so an older $PKI is made again

# pki_key NAME : NAME.key in the current directory
pki_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# pki_ca NAME SUBJECT : a self-signed certificate authority NAME.{crt,key}
pki_ca() {
  pki_key "$1"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

# pki_cert [-ca CA] NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES] : NAME.{crt,key} signed by CA (default ca)
pki_cert() {
  local ca=ca
  [[ $1 == -ca ]] && { ca=$2; shift 2; }
  local name=$1 subject=$2 usage=$3 sans=${4:-} ext
  pki_key "$name"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [[ -n $sans ]] && ext+=$'\n'"subjectAltName=$sans"
  openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 -sha256 \
    -extfile <(printf '%s\n' "$ext") -out "$name.crt" 2>/dev/null
  rm -f "$name.csr"
}

# pki_valid DIR : every certificate there is signed by its CA, every key is there
pki_valid() {
  local d=$1 f
  for f in ca front-proxy-ca apiserver apiserver-kubelet-client admin kube-controller-manager kube-scheduler kwok \
    front-proxy-client sa; do
    [[ -s $d/$f.key ]] || return 1
  done
  [[ -s $d/sa.pub ]] &&
    openssl verify -CAfile "$d/ca.crt" "$d"/{apiserver,apiserver-kubelet-client,admin,kube-controller-manager,kube-scheduler,kwok}.crt >/dev/null &&
    openssl verify -CAfile "$d/front-proxy-ca.crt" "$d/front-proxy-client.crt" >/dev/null
}

# cluster_pki : make $PKI unless a complete one is there (built in a temp dir, moved in at the end,
# so an interrupted run never leaves half a PKI behind)
cluster_pki() {
  [[ $(cat "$PKI/complete" 2>/dev/null) == "$PKI_LAYOUT" ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed for the cluster certificates (apt-get install openssl)"
  say "cluster: generating certificates in $PKI"
  local tmp
  tmp=$(mktemp -d "$STATE/pki.new.XXXXXX")
  # Inside "|| true" errexit is off, so every step runs; pki_valid then catches any step that failed.
  (
    cd "$tmp" || exit 1
    pki_ca ca "/CN=kubedev-ca"
    pki_cert apiserver "/CN=kube-apiserver" serverAuth \
      "IP:127.0.0.1,IP:$KUBERNETES_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    # the apiserver's identity towards kubelets (logs, exec); only a real node uses it
    pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    pki_cert admin "/O=system:masters/CN=kubedev-admin" clientAuth
    # built-in RBAC roles exist for these two user names
    pki_cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
    pki_cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
    # kwok writes status and deletes pods on every node it plays: cluster-admin is the honest grant
    pki_cert kwok "/O=system:masters/CN=kubedev-kwok" clientAuth
    # the aggregation layer: the apiserver proxies to extension apiservers as front-proxy-client, and
    # controller-manager and scheduler read this CA (from kube-system/extension-apiserver-authentication)
    # to authenticate requests; without it they log "missing content for CA bundle" forever
    pki_ca front-proxy-ca "/CN=kubedev-front-proxy-ca"
    pki_cert -ca front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
    # service-account tokens: the apiserver signs with sa.key, verifies with sa.pub
    pki_key sa
    openssl pkey -in sa.key -pubout -out sa.pub
    rm -f ./*.srl
    chmod 600 ./*.key
  ) || true
  pki_valid "$tmp" || { rm -rf "$tmp"; die "cluster: certificate generation failed (openssl messages above)"; }
  rm -rf "$PKI"
  mv "$tmp" "$PKI"
  echo "$PKI_LAYOUT" > "$PKI/complete"
}

# write_kubeconfig FILE CERT_NAME : a kubeconfig for $PKI/CERT_NAME.{crt,key}, context kubedev-test,
# everything embedded so the file can be copied anywhere
write_kubeconfig() (
  local file=$1 name=$2
  umask 077   # a subshell body, so the umask stays in here
  cat > "$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubedev-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$name.crt")
    client-key-data: $(base64 -w0 < "$PKI/$name.key")
contexts:
- name: kubedev-test
  context:
    cluster: kubedev-test
    user: $name
current-context: kubedev-test
EOF
  mv "$file.tmp" "$file"
)
