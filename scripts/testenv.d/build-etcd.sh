#!/usr/bin/env bash
# Build etcd from the Go module proxy (no release download is reachable here): a wrapper module
# whose main hands its arguments to etcdmain.Main, the same entry point the etcd binary uses.
# Output is cached by version; a second run with the binary present does nothing.
#   usage: build-etcd.sh VERSION OUTDIR
set -euo pipefail
version=$1 outdir=$2
[[ -x $outdir/etcd ]] && exit 0
work="${outdir}.src"
mkdir -p "$work" "$outdir"
cd "$work"

if [[ ! -f go.sum ]]; then
  cat > main.go <<'GO'
// Command etcd is etcd's own server entry point, built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  rm -f go.mod
  go mod init kubedev.local/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${version}"
  go mod tidy
fi

echo "building etcd ${version}" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$outdir/etcd.tmp" .
mv "$outdir/etcd.tmp" "$outdir/etcd"
