#!/usr/bin/env bash
# Benchmark: site.yml run again on a converged test environment must change nothing. Converges once
# (not timed), then times RUNS reruns and counts their changed tasks; exits 1 if any rerun changed something.
#   scripts/bench_site_rerun.sh [RUNS]       (default 3; needs scripts/testenv up)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-3}
cache=${KUBEDEV_CACHE:-$HOME/.cache/kubedev}
kubectl=${KUBECTL:-$cache/kubernetes-v1.37.2/kubectl}
kubeconfig=${KUBEDEV_TEST_KUBECONFIG:-$root/.testenv/kubeconfig}
namespace=bench-site-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
vars=$(printf '{"kubedev_cluster_provider":"existing","kubedev_install_tools":false,"kubedev_kubeconfig":"%s","kubedev_namespace":"%s","kubedev_registry":"127.0.0.1:%s","kubedev_base_image":"kubedev/node-base:bookworm","deploy_url_node_selector":"type!=kwok"}' \
  "$kubeconfig" "$namespace" "${KUBEDEV_REGISTRY_PORT:-5000}")
log=$(mktemp)
trap '"$kubectl" --kubeconfig "$kubeconfig" delete namespace "$namespace" --wait=false >/dev/null 2>&1 || true; rm -f "$log"' EXIT

site() { ANSIBLE_NOCOLOR=1 .venv/bin/ansible-playbook site.yml -e "$vars" >"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }; }

echo "converging namespace $namespace (not timed)"
site
status=0
for ((i = 1; i <= runs; i++)); do
  start=$(date +%s.%N)
  site
  end=$(date +%s.%N)
  changed=$(sed -n 's/.*changed=\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  printf 'rerun %d: %.1f s, changed tasks: %s\n' "$i" "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')" "$changed"
  if [[ $changed != 0 ]]; then
    status=1
    grep -B1 '^changed:' "$log" | grep '^TASK' || true
  fi
done
exit $status
