# shellcheck shell=bash
# The recipe of the Node base image's root filesystem. baseimage.sh hashes this file: changing it
# rebuilds the cached tarball and the image on the next `scripts/testenv up`.
# shellcheck source=docker-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/docker-apt.sh"

BASEIMAGE_SUITE=bookworm
BASEIMAGE_PACKAGES=(ca-certificates nodejs npm)

# baseimage_host_mirror SUITE : the URI the host's apt sources use for SUITE (deb822 .sources files
# and one-line .list files), empty when the host has none
baseimage_host_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$suite" '
      function stanza_end() { if (uri != "" && hit && deb) { print uri; found = 1; exit } uri = ""; hit = deb = 0 }
      /^[[:space:]]*$/ { stanza_end(); next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      END { if (!found) stanza_end() }' "$f"
  done | head -n 1 | grep . && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    # "deb [options] URI SUITE COMPONENT..."
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite {print $2; exit}'
  done | head -n 1
}

# baseimage_build_rootfs_tar OUT : debootstrap a minimal Debian with Node.js and npm into a tarball
baseimage_build_rootfs_tar() {
  local out=$1 work="$1.rootfs" mirror security http_proxy_conf=""
  need_root "building the base image (debootstrap, chroot)"
  apt_install debootstrap
  mirror=${KUBEDEV_DEBIAN_MIRROR:-$(baseimage_host_mirror "$BASEIMAGE_SUITE")}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=$(baseimage_host_mirror "$BASEIMAGE_SUITE-security")
  # debootstrap fetches with wget, which reads http_proxy but not apt's configuration: pass apt's
  # proxy on when there is one (these machines have none; their egress proxy is transparent)
  eval "$(apt-config shell http_proxy_conf Acquire::http::Proxy)"
  if [[ -n $http_proxy_conf ]]; then local -x http_proxy=$http_proxy_conf; fi

  baseimage_remove_tree "$work"   # a failed earlier attempt, kept until now for a look
  say "base image: debootstrap $BASEIMAGE_SUITE from $mirror (first time only, a few minutes)"
  debootstrap --variant=minbase "$BASEIMAGE_SUITE" "$work" "$mirror" >"$STATE/logs/debootstrap.log" 2>&1 ||
    die "debootstrap failed; last lines:$(printf '\n'; tail -n 20 "$STATE/logs/debootstrap.log")"

  {
    echo "deb $mirror $BASEIMAGE_SUITE main"
    echo "deb $mirror $BASEIMAGE_SUITE-updates main"
    if [[ -n $security ]]; then echo "deb $security $BASEIMAGE_SUITE-security main"; fi
  } > "$work/etc/apt/sources.list"
  # This machine's own certificate authorities (/usr/local/share/ca-certificates: here the egress
  # proxy that intercepts TLS) join the image's trust store, because `npm ci` in a build must trust
  # what the host trusts, and Dockerfiles should not need machine-specific build arguments for it.
  # Baking them in is fine for a base image built on, and only used on, this machine; on a machine
  # without local CAs nothing is added.
  mkdir -p "$work/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$work/usr/local/share/ca-certificates/" 2>/dev/null || true

  say "base image: installing ${BASEIMAGE_PACKAGES[*]} into the rootfs"
  {
    chroot "$work" apt-get -q update &&
      DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get -q install -y --no-install-recommends \
        "${BASEIMAGE_PACKAGES[@]}" &&
      chroot "$work" update-ca-certificates &&
      # like the official node image: user node, uid/gid 1000, home /home/node
      chroot "$work" groupadd --gid 1000 node &&
      chroot "$work" useradd --uid 1000 --gid node --shell /bin/bash --create-home node &&
      chroot "$work" apt-get clean
  } >"$STATE/logs/baseimage-packages.log" 2>&1 ||
    die "installing packages into the rootfs failed; last lines:$(printf '\n'; tail -n 20 "$STATE/logs/baseimage-packages.log")"
  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/log/apt/* "$work"/var/log/*.log
  # the host's name and resolver mean nothing in a container (docker provides both at run time)
  : > "$work/etc/hostname"
  : > "$work/etc/resolv.conf"

  tar -C "$work" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$out.tmp" . || die "packing the rootfs into $out failed"
  mv "$out.tmp" "$out"
  baseimage_remove_tree "$work"
}

# baseimage_remove_tree DIR : rm -rf that never follows a mount a failed debootstrap left behind
baseimage_remove_tree() {
  local dir=$1 mnt
  [[ -e $dir ]] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt"; done
  rm -rf --one-file-system "$dir"
}
