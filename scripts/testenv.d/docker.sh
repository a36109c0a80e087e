# shellcheck shell=bash
# dockerd from Debian's docker.io (20.10). Images live in the default data root /var/lib/docker, so
# they survive down/up; that is what caches the base image between runs.
#
# Flags: none beyond the defaults, checked on these machines: iptables (nft backend) works, bridges
# and veth pairs can be created, overlay mounts work on the ext4 root, so dockerd picks overlay2 by
# itself and publishes ports on 127.0.0.1 through docker-proxy. Without systemd, Debian's dockerd
# finds no /run/containerd/containerd.sock and starts its own "managed" containerd as a child
# (socket /run/docker/containerd/containerd.sock) and stops it on exit, so no separate containerd
# daemon is started here.
# shellcheck source=docker-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/docker-apt.sh"

DOCKERD=/usr/sbin/dockerd   # Debian's; /usr/local/bin holds an unrelated newer client
DOCKER_EXEC_ROOT=/run/docker

# Running, and able to run privileged containers (minikube's node) on this machine.
docker_running() { timeout 15 docker info >/dev/null 2>&1 && "$ROOT/scripts/sandbox-docker" installed; }

docker_up() {
  [[ -x $DOCKERD ]] || apt_install docker.io
  [[ -x $DOCKERD ]] || die "$DOCKERD missing after installing docker.io"
  need_root "starting dockerd"
  # where the bounding set lacks capabilities: the runc shim as default runtime (reloads a running dockerd)
  "$ROOT/scripts/sandbox-docker" install || die "preparing dockerd for privileged containers failed"
  if timeout 15 docker info >/dev/null 2>&1; then return 0; fi
  start_daemon dockerd "$DOCKERD"
  wait_for "dockerd" 60 dockerd docker info
  say "dockerd: storage driver $(docker info --format '{{.Driver}}' 2>/dev/null)"
}

# Stops only a dockerd this checkout started; containers still running then are test containers.
# A pid file whose dockerd died still says it was ours: then only its leftovers are removed.
docker_down() {
  [[ -f $STATE/pids/dockerd.pid ]] || return 0
  local ids
  if daemon_pid dockerd >/dev/null; then
    ids=$(timeout 30 docker ps --quiet 2>/dev/null) || true
    if [[ -n $ids ]]; then
      say "stopping running containers: $(echo "$ids" | tr '\n' ' ')"
      # shellcheck disable=SC2086  # one id per word
      timeout 60 docker stop --time 5 $ids >/dev/null || true
    fi
    stop_daemon dockerd
  fi
  rm -f "$STATE/pids/dockerd.pid"
  docker_remove_leftovers
}

# After a clean dockerd exit there is nothing to do; after a SIGKILL its containers, their shims, its
# managed containerd and mounts may remain. All of them hang off /run/docker, which only dockerd uses
# (its processes name it /var/run/docker, the same directory).
docker_remove_leftovers() {
  local runc_root=$DOCKER_EXEC_ROOT/runtime-runc/moby id pid pids mnt
  if [[ -d $runc_root ]]; then
    for id in $(runc --root "$runc_root" list --quiet 2>/dev/null); do
      say "removing leftover container $id"
      runc --root "$runc_root" delete --force "$id" || true   # kills its processes first
    done
  fi
  pids=$(pgrep -f -- "-address (/var)?$DOCKER_EXEC_ROOT/containerd/containerd.sock" || true)
  pid=$(cat "$DOCKER_EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && grep -qs "$DOCKER_EXEC_ROOT/containerd/containerd.toml" "/proc/$pid/cmdline"; then
    pids+=" $pid"
  fi
  for pid in $pids; do
    say "killing leftover $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-60) (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  # deepest first, so nested mounts go before their parents
  awk '$2 ~ "^(/var/lib/docker|/run/docker|/var/run/docker)(/|$)" {print $2}' /proc/mounts | sort -r |
    while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt" || true; done
}
