#!/usr/bin/env bash
# Build one Go command from the Go module proxy (no release download is reachable here) through a
# wrapper module, so `go build` needs only the exact versions (the proxy refuses some version lists).
# Cached: does nothing when OUT exists.
#   usage: go-build.sh OUT MODULE VERSION PACKAGE [LDFLAGS]
#   GO_BUILD_FORK=FORK@VERSION  MODULE is published under another path (a fork whose go.mod still
#                               says MODULE): require MODULE, replace it with the fork, and copy the
#                               fork's own replace block (a replace only counts in the main module)
#   GO_BUILD_MAIN=FILE          build FILE (a main package of ours, e.g. a wrapper calling the
#                               module's library) instead of MODULE's PACKAGE
set -euo pipefail
out=$1 module=$2 version=$3 pkg=$4 ldflags=${5:-}
[[ -x $out ]] && exit 0
work="$out.src"
mkdir -p "$work" "$(dirname "$out")"
cd "$work"
export GOFLAGS=-mod=mod

if [[ ! -f go.sum ]]; then
  rm -f go.mod ./*.go
  if [[ -n ${GO_BUILD_FORK:-} ]]; then
    fork=${GO_BUILD_FORK%@*} fork_version=${GO_BUILD_FORK#*@}
    # a fork is not in the checksum database under the name its go.mod gives
    export GONOSUMDB=${GONOSUMDB:+$GONOSUMDB,}$fork GOFLAGS="$GOFLAGS -modcacherw"
    modfile=$(go mod download -json "$fork@$fork_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    {
      echo "module kubedev.local/build"
      awk '$1 == "go" {print; exit}' "$modfile"
      echo "require $module v0.0.0-00010101000000-000000000000"
      echo "replace $module => $fork $fork_version"
      awk '/^replace \(/ {on = 1; print; next} on {print} on && /^\)/ {on = 0}' "$modfile"
    } > go.mod
  else
    # awk reads the file itself: awk quitting early on a pipe would fail the writer (pipefail)
    modfile=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    gover=$(awk '$1 == "go" {print $2; exit}' "$modfile")
    printf 'module kubedev.local/build\n\ngo %s\n\nrequire %s %s\n' "${gover:-1.22}" "$module" "$version" > go.mod
  fi
  # our main imports the module, so tidy resolves the rest; otherwise go build -mod=mod does
  if [[ -n ${GO_BUILD_MAIN:-} ]]; then cp "$GO_BUILD_MAIN" main.go && go mod tidy; fi
fi

target=$pkg
[[ -n ${GO_BUILD_MAIN:-} ]] && target=.
echo "building $(basename "$out") from $module $version (Go module proxy)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$target"
mv "$out.tmp" "$out"
