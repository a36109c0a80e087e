# shellcheck shell=bash
# The node image for minikube's docker driver (what minikube calls the kicbase image), built from
# Debian packages and the Go module proxy where gcr.io/k8s-minikube/kicbase cannot be pulled. It
# follows minikube's own recipe (deploy/kicbase/Dockerfile of the minikube module: systemd as PID 1
# behind minikube's entrypoint, sshd for the user `docker`, dockerd + cri-dockerd, CNI plugins,
# crictl), with Debian's docker.io in place of Docker's packages and without what the docker runtime
# does not use (containerd/cri-o as runtimes, podman, buildkit, nerdctl, NVIDIA). minikube's static
# files (entrypoint, containerd config, sysctl settings, automount and scheduled-stop units) come
# from the minikube module in the Go module cache, so they match the minikube release.
# Sourced by scripts/minikube-mirror; needs common.sh (say/die/apt_install) and baseimage-rootfs.sh.

NODE_PACKAGES=(
  systemd systemd-sysv dbus openssh-server sudo
  docker.io containerd runc containernetworking-plugins
  iptables ebtables conntrack ethtool iproute2 socat util-linux mount kmod procps libseccomp2
  ca-certificates curl rsync openssl lz4 pigz iputils-ping netcat-openbsd bash
)

# node_rootfs_tar OUT MINIKUBE_DIR CRI_DOCKERD_DIR CRICTL RUNC_SHIM MINIKUBE_VERSION : the node's root
# filesystem as a tarball (one image layer)
node_rootfs_tar() {
  local out=$1 mk=$2 cri=$3 crictl=$4 shim=$5 minikube_version=$6 work="$1.rootfs" mirror log
  need_root "building the minikube node image (debootstrap, chroot)"
  apt_install debootstrap
  mirror=${KUBEDEV_DEBIAN_MIRROR:-$(baseimage_host_mirror bookworm)}
  mirror=${mirror:-http://deb.debian.org/debian}
  log="$out.log"
  baseimage_remove_tree "$work"
  say "node image: debootstrap bookworm from $mirror, then ${#NODE_PACKAGES[@]} packages (about 2 minutes)"
  {
    debootstrap --variant=minbase bookworm "$work" "$mirror" &&
      echo "deb $mirror bookworm main" > "$work/etc/apt/sources.list" &&
      # no service may start inside the chroot while packages install
      printf '#!/bin/sh\nexit 101\n' > "$work/usr/sbin/policy-rc.d" && chmod +x "$work/usr/sbin/policy-rc.d" &&
      chroot "$work" apt-get -q update &&
      DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get -q install -y --no-install-recommends "${NODE_PACKAGES[@]}" &&
      chroot "$work" apt-get clean && rm -f "$work/usr/sbin/policy-rc.d"
  } >"$log" 2>&1 || die "node image: building the rootfs failed; last lines of $log:$(printf '\n'; tail -n 20 "$log")"

  "$MIRROR_HERE/node-configure.sh" "$work" "$mk" "$cri" "$crictl" "$shim" "$minikube_version" >>"$log" 2>&1 ||
    die "node image: configuring the rootfs failed; last lines of $log:$(printf '\n'; tail -n 20 "$log")"

  rm -rf "$work"/var/lib/apt/lists/* "$work"/var/cache/apt/*.bin "$work"/var/log/apt/* "$work"/var/log/*.log \
    "$work"/usr/share/doc/* "$work"/usr/share/man/*
  : > "$work/etc/hostname"
  : > "$work/etc/resolv.conf"
  tar -C "$work" --numeric-owner --xattrs --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$out.tmp" . || die "node image: packing the rootfs failed"
  mv "$out.tmp" "$out"
  baseimage_remove_tree "$work"
}

# node_image_archive OUT ROOTFS_TAR TAG : wrap the rootfs as an image with kicbase's settings
node_image_archive() {
  local out=$1 layer=$2 tag=$3
  python3 "$MIRROR_HERE/../lib/image_archive.py" -o "$out" --tag "$tag" --layer "$layer" \
    --entrypoint '["/usr/local/bin/entrypoint", "/sbin/init"]' --cmd '[]' \
    --env container=docker --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --stop-signal 'SIGRTMIN+3' --expose 22/tcp --label "dev.kubedev.recipe=$NODE_RECIPE" >/dev/null
}
