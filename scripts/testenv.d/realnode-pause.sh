# shellcheck shell=bash
# The pod sandbox ("pause") image, built here because no image can be pulled: Kubernetes' own
# pause.c from the k8s.io/kubernetes module in the Go module cache, compiled statically, packed as a
# one-layer docker-archive that `ctr images import` understands. Cached per machine by version.
PAUSE_VERSION=3.10.2   # the tag Kubernetes' build/pause/Makefile gives this pause.c
PAUSE_IMAGE=registry.k8s.io/pause:$PAUSE_VERSION

# pause_source [K8S_VERSION] : path of pause.c of that Kubernetes (default $K8S_VERSION; downloads
# the module into the Go module cache if needed)
pause_source() {
  local k8s=${1:-$K8S_VERSION} dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$k8s" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') ||
    die "cannot find k8s.io/kubernetes@$k8s in the Go module cache (go mod download failed)"
  [[ -f $dir/build/pause/linux/pause.c ]] || die "no build/pause/linux/pause.c in $dir"
  echo "$dir/build/pause/linux/pause.c"
}

# pause_archive [PAUSE_VERSION K8S_VERSION] : prints the path of the cached docker-archive tarball
# of registry.k8s.io/pause:PAUSE_VERSION (default: the real node's), building it on first use from
# the pause.c of that Kubernetes release
pause_archive() {
  local version=${1:-$PAUSE_VERSION} k8s=${2:-$K8S_VERSION}
  local out=$CACHE/pause-$version.tar image=registry.k8s.io/pause:$version
  if [[ ! -f $out ]]; then
    command -v gcc >/dev/null || apt_install gcc libc6-dev
    say "building $image from the pause.c of Kubernetes $k8s"
    local src tmp
    src=$(pause_source "$k8s")
    tmp=$(mktemp -d)
    (
      set -e
      cd "$tmp"
      mkdir rootfs image
      gcc -Os -Wall -Werror -static -DVERSION="v$version-kubedev" -o rootfs/pause "$src"
      strip rootfs/pause
      # fixed owner and time, so the same source gives the same layer digest
      tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C rootfs -cf layer.tar pause
      local diff_id config_id
      diff_id=$(sha256sum layer.tar | cut -d' ' -f1)
      mkdir "image/$diff_id"
      mv layer.tar "image/$diff_id/layer.tar"
      # the upstream image runs pause as 65535:65535 with no shell and nothing else in it
      printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535","WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$(dpkg --print-architecture)" "$diff_id" > config.json
      config_id=$(sha256sum config.json | cut -d' ' -f1)
      mv config.json "image/$config_id.json"
      printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
        "$config_id" "$image" "$diff_id" > image/manifest.json
      tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C image -cf "$out.tmp" .
      mv "$out.tmp" "$out"
    ) || { rm -rf "$tmp"; rm -f "$out.tmp"; die "building the $image image failed"; }
    rm -rf "$tmp"
  fi
  echo "$out"
}
