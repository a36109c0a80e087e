# shellcheck shell=bash
# The images `kubeadm init` and minikube's addons run, as docker-archives in minikube's image cache
# layout (~/.minikube/cache/images/<arch>/<name>_<tag>), made from binaries built here: no image can
# be pulled. Static binaries go into one-layer images; kube-proxy also needs iptables and conntrack,
# so it gets a small Debian layer under it. Sourced by scripts/minikube-mirror.

PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PROXY_BASE_PACKAGES=(iptables conntrack ipset kmod)

# binary_layer OUT SRC DEST : a layer tarball holding SRC at DEST (mode 0755, root-owned, time 0)
binary_layer() {
  local out=$1 src=$2 dest=$3 tmp
  tmp=$(mktemp -d)
  install -D -m 0755 "$src" "$tmp/${dest#/}"
  mkdir -p "$tmp/tmp" && chmod 1777 "$tmp/tmp"   # klog and friends write to /tmp
  tar --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C "$tmp" -cf "$out" .
  rm -rf "$tmp"
}

# static_image OUT TAG BINARY DEST [image_archive.py options...] : one binary as an image
static_image() {
  local out=$1 tag=$2 bin=$3 dest=$4; shift 4
  [[ -f $out ]] && return 0
  mkdir -p "$(dirname "$out")"
  binary_layer "$out.layer" "$bin" "$dest"
  python3 "$MIRROR_HERE/../lib/image_archive.py" -o "$out" --tag "$tag" --layer "$out.layer" --env "$PATH_ENV" "$@" >/dev/null
  rm -f "$out.layer"
}

# proxy_base_layer OUT : minimal Debian with what kube-proxy calls (iptables, conntrack, ipset)
proxy_base_layer() {
  local out=$1 work="$1.rootfs" mirror log="$1.log"
  [[ -f $out ]] && return 0
  need_root "building the kube-proxy base layer (debootstrap)"
  apt_install debootstrap
  mirror=${KUBEDEV_DEBIAN_MIRROR:-$(baseimage_host_mirror bookworm)}
  mirror=${mirror:-http://deb.debian.org/debian}
  baseimage_remove_tree "$work"
  say "kube-proxy base: debootstrap bookworm + ${PROXY_BASE_PACKAGES[*]} (about a minute)"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${PROXY_BASE_PACKAGES[*]}")" bookworm "$work" "$mirror" \
    >"$log" 2>&1 || die "kube-proxy base: debootstrap failed; last lines of $log:$(printf '\n'; tail -n 20 "$log")"
  chroot "$work" apt-get clean
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/log/* "$work"/usr/share/doc/* "$work"/usr/share/man/*
  : > "$work/etc/hostname"
  : > "$work/etc/resolv.conf"
  tar -C "$work" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$out.tmp" . ||
    die "kube-proxy base: packing failed"
  mv "$out.tmp" "$out"
  baseimage_remove_tree "$work"
}

# kube_proxy_image OUT TAG BINARY BASE_LAYER
kube_proxy_image() {
  local out=$1 tag=$2 bin=$3 base=$4
  [[ -f $out ]] && return 0
  mkdir -p "$(dirname "$out")"
  binary_layer "$out.layer" "$bin" /usr/local/bin/kube-proxy
  python3 "$MIRROR_HERE/../lib/image_archive.py" -o "$out" --tag "$tag" --layer "$base" --layer "$out.layer" \
    --env "$PATH_ENV" --entrypoint '["/usr/local/bin/kube-proxy"]' >/dev/null
  rm -f "$out.layer"
}

# cache_file IMAGE : where minikube looks for IMAGE in its image cache (":" becomes "_")
cache_file() { echo "$MIRROR_DIR/cache/images/$ARCH/${1//:/_}"; }
