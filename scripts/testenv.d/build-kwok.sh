#!/usr/bin/env bash
# Install the kwok controller from the Go module proxy, cached by version.
#   usage: build-kwok.sh VERSION OUTDIR
set -euo pipefail
version=$1 outdir=$2
[[ -x $outdir/kwok ]] && exit 0
mkdir -p "$outdir"
echo "building kwok ${version}" >&2
# GOFLAGS=-mod=mod (set by common.sh) is refused by `go install pkg@version`; clear it here.
GOFLAGS='' CGO_ENABLED=0 GOBIN="$outdir" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${version}"
