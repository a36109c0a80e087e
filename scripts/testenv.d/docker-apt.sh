# shellcheck shell=bash
# apt_install PKG... : install missing Debian packages (docker.sh, registry.sh and baseimage.sh use it).
# Runs `apt-get update` at most once per testenv run; waits for a dpkg lock held by someone else
# instead of failing, since several tools may install packages on the same machine.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  need_root "installing ${missing[*]}"
  say "installing ${missing[*]} (apt-get)"
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  if [[ -z ${TESTENV_APT_UPDATED:-} ]]; then
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >&2 || die "apt-get update failed"
    TESTENV_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}
