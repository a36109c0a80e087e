#!/usr/bin/env bash
# The node image's configuration, kicbase's steps in its order (minikube module,
# deploy/kicbase/Dockerfile), applied to a debootstrapped root filesystem. Run by node-image.sh.
#   usage: node-configure.sh ROOTFS MINIKUBE_MODULE_DIR CRI_DOCKERD_DIR CRICTL RUNC_SHIM MINIKUBE_VERSION
set -euo pipefail
r=$1 mk=$2 cri=$3 crictl=$4 shim=$5 minikube_version=$6
kic=$mk/deploy/kicbase
install -m 0755 "$kic/entrypoint" "$r/usr/local/bin/entrypoint"
install -m 0644 "$kic/10-network-security.conf" "$kic/11-tcp-mtu-probing.conf" "$r/etc/sysctl.d/"
mkdir -p "$r/etc/containerd"
install -m 0644 "$kic/containerd.toml" "$r/etc/containerd/config.toml"

# systemd in a container: no units from the package defaults, no kmsg, tmpfiles cleanup after 1 min
find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/* \
  "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/sockets.target.wants/*udev* \
  "$r"/lib/systemd/system/sockets.target.wants/*initctl* "$r"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> "$r/etc/systemd/journald.conf"
mkdir -p "$r/etc/kubernetes/manifests"
sed -i -e 's#OnBootSec=.*#OnBootSec=1min#' "$r/usr/lib/systemd/system/systemd-tmpfiles-clean.timer"
chroot "$r" systemctl mask systemd-binfmt.service
# minikube finds the control plane through /etc/hosts first
sed -ri 's/^(hosts:\s*).*/\1files dns/' "$r/etc/nsswitch.conf"
cat >> "$r/etc/ssh/sshd_config" <<'EOF'
PubkeyAcceptedAlgorithms +ssh-rsa
HostkeyAlgorithms +ssh-rsa
PubkeyAuthentication yes
PasswordAuthentication no
EOF
# No host keys in the image: openssh-server's install generated them, and kicbase.tar and the mirror are
# world-readable (minikube runs as an ordinary user), so every node would share private keys anyone can
# read. Each node makes its own when sshd first starts (ssh-keygen -A writes only the missing ones, so
# a restarted node keeps its keys). The drop-in restates Debian's ExecStartPre, which `sshd -t` (fails
# without host keys) must follow.
rm -f "$r"/etc/ssh/ssh_host_*
mkdir -p "$r/etc/systemd/system/ssh.service.d"
cat > "$r/etc/systemd/system/ssh.service.d/10-kubedev-host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF

# cri-dockerd, its units from its own packaging; crictl; CNI plugins where minikube looks
install -m 0755 "$cri/cri-dockerd" "$r/usr/bin/cri-dockerd"
install -m 0644 "$cri/cri-docker.service" "$cri/cri-docker.socket" "$r/usr/lib/systemd/system/"
install -m 0755 "$crictl" "$r/usr/local/bin/crictl"
mkdir -p "$r/opt/cni/bin"
cp -a "$r"/usr/lib/cni/. "$r/opt/cni/bin/"
# minikube's docker.service runs /usr/bin/dockerd; Debian installs it in /usr/sbin
ln -sf /usr/sbin/dockerd "$r/usr/bin/dockerd"

# runc behind the shim (scripts/runc-shim): a pass-through where the host grants everything
chroot "$r" dpkg-divert --local --rename --divert /usr/sbin/runc.real --add /usr/sbin/runc
install -m 0755 "$shim" "$r/usr/sbin/runc"

install -m 0755 "$kic/automount/minikube-automount" "$r/usr/sbin/minikube-automount"
install -m 0644 "$kic/automount/minikube-automount.service" "$r/usr/lib/systemd/system/"
mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
ln -sf /usr/lib/systemd/system/minikube-automount.service "$r/etc/systemd/system/multi-user.target.wants/"
mkdir -p "$r/var/lib/minikube/scheduled-stop"
install -m 0755 "$kic/scheduled-stop/minikube-scheduled-stop" "$r/var/lib/minikube/scheduled-stop/"
install -m 0644 "$kic/scheduled-stop/minikube-scheduled-stop.service" "$r/usr/lib/systemd/system/"

# the docker runtime only: containerd runs under dockerd, not as its own service
chroot "$r" systemctl disable containerd.service
chroot "$r" systemctl enable docker.service ssh.service

# user docker for `minikube ssh`, passwordless sudo, key-only login
chroot "$r" groupadd -f docker
chroot "$r" useradd -m -s /bin/bash -g docker -G sudo docker
chroot "$r" usermod -p '*' docker
chroot "$r" passwd -d docker
echo '%sudo ALL=(ALL) NOPASSWD:ALL' > "$r/etc/sudoers.d/20-passwordless-sudo"
chmod 0440 "$r/etc/sudoers.d/20-passwordless-sudo"
install -d -m 0700 -o "$(chroot "$r" id -u docker)" -g "$(chroot "$r" id -g docker)" "$r/home/docker/.ssh"
mkdir -p "$r/kind"
printf '{"iso_version": "", "kicbase_version": "kubedev", "minikube_version": "%s", "commit": ""}\n' \
  "$minikube_version" > "$r/version.json"
[[ -f $r/var/lib/dpkg/alternatives/iptables ]]   # minikube checks this file exists
