# shellcheck shell=bash
# Shared helpers for scripts/testenv: paths, logging, daemons started with pid files.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STATE=${KUBEDEV_TESTENV_STATE:-$ROOT/.testenv}          # per checkout: pids, logs, kubeconfig
# shellcheck source=cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache.sh"
CACHE=$(kubedev_cache_dir) || exit 1   # per machine: built binaries, images (as root: writable by root only)
K8S_VERSION=${KUBEDEV_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${KUBEDEV_ETCD_VERSION:-v3.7.3}
KWOK_VERSION=${KUBEDEV_KWOK_VERSION:-v0.8.0}
REGISTRY_PORT=${KUBEDEV_REGISTRY_PORT:-5000}
AUTH_REGISTRY_PORT=${KUBEDEV_AUTH_REGISTRY_PORT:-5001}
ETCD_PORT=${KUBEDEV_ETCD_PORT:-23790}
APISERVER_PORT=${KUBEDEV_APISERVER_PORT:-16443}
BASE_IMAGE=kubedev/node-base:bookworm
export GOFLAGS=${GOFLAGS:--mod=mod}
mkdir -p "$STATE/pids" "$STATE/logs" "$CACHE"

say() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# pid of a daemon we started, if it still runs
daemon_pid() {
  local f="$STATE/pids/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 1; }
  echo "$pid"
}

# start_daemon NAME CMD... : run detached in its own session, log to $STATE/logs/NAME.log
start_daemon() {
  local name=$1; shift
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pids/$name.pid"
  printf '%q ' "$@" > "$STATE/pids/$name.cmd"   # kept for restart_daemon
}

# restart_daemon NAME : stop it and start it again with the same command line (tests use this
# to restart kube-apiserver in the middle of a rollout wait)
restart_daemon() {
  local name=$1 cmdline
  [[ -f $STATE/pids/$name.cmd ]] || die "no daemon named $name was started here"
  cmdline=$(cat "$STATE/pids/$name.cmd")
  stop_daemon "$name"
  eval "start_daemon $(printf '%q' "$name") $cmdline"
}

# stop_daemon NAME : SIGTERM its process group, SIGKILL after 15 s
stop_daemon() {
  local name=$1 pid i
  pid=$(daemon_pid "$name") || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$STATE/pids/$name.pid"
  say "stopped $name"
}

# wait_for DESCRIPTION SECONDS DAEMON CMD... : poll CMD until it succeeds; fail early if DAEMON died
wait_for() {
  local what=$1 secs=$2 daemon=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $daemon ]] && ! daemon_pid "$daemon" >/dev/null; then
      die "$what: $daemon exited; last log lines:$(printf '\n'; tail -n 20 "$STATE/logs/$daemon.log" 2>/dev/null)"
    fi
    ((SECONDS < deadline)) || die "$what: not ready after ${secs}s (log: $STATE/logs/$daemon.log)"
    sleep 0.2
  done
}

# port_free PORT : true when nothing listens on 127.0.0.1:PORT
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_root() { [[ $(id -u) == 0 ]] || die "$1 needs root (run scripts/testenv as root, or with sudo)"; }
