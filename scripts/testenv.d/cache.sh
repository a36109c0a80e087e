# shellcheck shell=bash
# The per-machine cache of built binaries ($KUBEDEV_CACHE, else $XDG_CACHE_HOME/kubedev, else
# ~/.cache/kubedev), for every script that builds into it or runs from it. Sourced; defines functions only.
#
# Root runs what is in there: dockerd runs the runc shim (scripts/sandbox-docker) for every container,
# the tools role installs the kubectl and minikube that scripts/artifact-mirror serves from it. Under
# `sudo -E` those variables, and HOME, are the calling user's, so a user could plant a binary root then
# runs. As root the cache must therefore be a directory only root can change: it and every directory
# above it owned by root and not writable by group or others (a root-owned sticky directory such as
# /tmp may be above it: nobody else can rename or remove what root made there). Anything else is refused,
# not worked around, so root never builds into or runs from a place the user chose without knowing.

# kubedev_cache_unsafe PATH: print why root must not trust PATH (nothing, status 1, when it may)
kubedev_cache_unsafe() {
  local path=$1 dir owner mode perms
  dir=/
  while :; do
    if [[ -e $dir ]]; then
      read -r owner mode < <(stat -L -c '%u %a' "$dir")
      perms=$((8#$mode))
      if [[ $owner != 0 ]]; then
        echo "$dir is owned by uid $owner, not root"; return 0
      fi
      # group or others may write: refused, unless it is a sticky directory (mode 1000) above the path
      if (( perms & 8#022 )) && ! { [[ $dir != "$path" ]] && (( perms & 8#1000 )); }; then
        echo "$dir is writable by group or others (mode $mode)"; return 0
      fi
    fi
    [[ $dir == "$path" ]] && return 1
    # the next component of path below dir
    local rest=${path#"${dir%/}"/}
    dir=${dir%/}/${rest%%/*}
  done
}

# kubedev_cache_dir: create the cache directory if needed and print its path (symlinks resolved, so a
# link changed later does not move it); as root, refuse a directory that root must not trust.
kubedev_cache_dir() {
  local dir from problem
  if [[ -n ${KUBEDEV_CACHE:-} ]]; then dir=$KUBEDEV_CACHE from=KUBEDEV_CACHE
  elif [[ -n ${XDG_CACHE_HOME:-} ]]; then dir=$XDG_CACHE_HOME/kubedev from=XDG_CACHE_HOME
  else dir=$HOME/.cache/kubedev from=HOME
  fi
  [[ $dir == /* ]] || { printf 'kubedev cache: %s=%s gives a relative cache directory %s\n' "$from" "${!from}" "$dir" >&2; return 1; }
  if [[ $(id -u) != 0 ]]; then
    (umask 022 && mkdir -p "$dir") && realpath "$dir"
    return
  fi
  dir=$(realpath -m "$dir")
  # checked before mkdir too: root must not create directories inside someone else's either
  if problem=$(kubedev_cache_unsafe "$dir") ||
     ! { (umask 022 && mkdir -p "$dir") && [[ $(realpath "$dir") == "$dir" ]]; } ||
     problem=$(kubedev_cache_unsafe "$dir"); then
    printf 'kubedev cache: refusing %s (from %s=%s) as root: %s. Root runs the binaries built there (the runc shim dockerd runs, kubectl, minikube), so its cache must be writable by root only: set KUBEDEV_CACHE to a root-owned directory (e.g. /var/cache/kubedev), or run without sudo -E\n' \
      "$dir" "$from" "${!from}" "${problem:-it changed while it was created}" >&2
    return 1
  fi
  echo "$dir"
}

# kubedev_cache_exe FILE: as root, refuse to run or install FILE unless root owns it and only root may
# change it (the directories above were checked by kubedev_cache_dir); prints nothing, status 0 when fine
kubedev_cache_exe() {
  local file=$1 owner mode
  [[ $(id -u) == 0 ]] || return 0
  read -r owner mode < <(stat -L -c '%u %a' "$file") || return 1
  if [[ $owner != 0 ]] || (( 8#$mode & 8#022 )); then
    printf 'kubedev cache: refusing to run %s as root: owned by uid %s, mode %s (root runs only what root owns and only root may change)\n' \
      "$file" "$owner" "$mode" >&2
    return 1
  fi
}
