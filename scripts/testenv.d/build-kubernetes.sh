#!/usr/bin/env bash
# Build the Kubernetes binaries from the Go module proxy (no release download is reachable here).
# A wrapper module requires k8s.io/kubernetes and replaces every staging module (which upstream
# points at ./staging/src/...) with its published v0.Y.Z twin. Output is cached by version.
#   usage: build-kubernetes.sh VERSION OUTDIR COMPONENT...
set -euo pipefail
version=$1 outdir=$2; shift 2
components=("$@")
staging_version="v0.${version#v1.}"
work="${outdir}.src"
mkdir -p "$work" "$outdir"
cd "$work"

missing=()
for c in "${components[@]}"; do [[ -x "$outdir/$c" ]] || missing+=("$c"); done
((${#missing[@]})) || exit 0

if [[ ! -f go.sum ]]; then
  modfile=$(go mod download -json "k8s.io/kubernetes@${version}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  gover=$(awk '$1 == "go" {print $2; exit}' "$modfile")
  {
    echo "module kubedev.local/kubernetes-build"
    echo "go ${gover}"
    echo "require k8s.io/kubernetes ${version}"
    # every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.Y.Z"
    awk -v sv="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\// {print "replace " $1 " => " $1 " " sv}' "$modfile"
  } > go.mod
  for c in "${components[@]}"; do
    case $c in kubectl) pkg=k8s.io/kubernetes/cmd/kubectl ;; *) pkg=k8s.io/kubernetes/cmd/$c ;; esac
    go get -tool "$pkg@${version}"
  done
  go mod tidy
fi

major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=${version} -X $p.gitMajor=${major} -X $p.gitMinor=${minor}"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
for c in "${missing[@]}"; do
  echo "building $c ${version} (first build takes long on 2 cores)" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$outdir/$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$outdir/$c.tmp" "$outdir/$c"
done
