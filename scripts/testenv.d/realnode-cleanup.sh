# shellcheck shell=bash
# Host state the real node changes, put back on realnode_down: iptables chains, mounts, cgroups,
# kernel settings, the CNI bridge. Each helper removes only what the real node added.

IPTABLES_FAMILIES=(iptables ip6tables)
OUR_CHAINS='^(KUBE-|CNI-)'   # kubelet/kube-proxy and CNI plugin chains; docker's are never touched

# realnode_iptables_snapshot : remember which KUBE-/CNI- chains exist before the node first starts,
# so down removes exactly the ones the node created (and leaves any that were there before)
realnode_iptables_snapshot() {
  local f=$REALNODE_DIR/iptables-chains-before fam
  [[ -f $f ]] && return 0
  for fam in "${IPTABLES_FAMILIES[@]}"; do
    command -v "$fam-save" >/dev/null || continue
    "$fam-save" 2>/dev/null | awk -v fam="$fam" '/^\*/ {t = substr($1, 2)} /^:/ {print fam, t, substr($1, 2)}'
  done > "$f.tmp"
  mv "$f.tmp" "$f"
}

# realnode_iptables_cleanup : for each table, delete the rules jumping to chains the node created,
# then flush and delete those chains, in one iptables-restore --noflush per table (atomic)
realnode_iptables_cleanup() {
  local f=$REALNODE_DIR/iptables-chains-before fam table save chains
  [[ -f $f ]] || return 0
  for fam in "${IPTABLES_FAMILIES[@]}"; do
    command -v "$fam-save" >/dev/null || continue
    for table in filter nat mangle raw; do
      save=$("$fam-save" -t "$table" 2>/dev/null) || continue
      chains=$(awk -v re="$OUR_CHAINS" -v fam="$fam" -v table="$table" '
        FNR == NR { before[$1 " " $2 " " $3] = 1; next }
        /^:/ { c = substr($1, 2); if (c ~ re && !((fam " " table " " c) in before)) print c }' \
        "$f" - <<<"$save")
      [[ -n $chains ]] || continue
      {
        echo "*$table"
        # iptables-save prints each rule in restore syntax: -A becomes -D for the jumps to ours
        awk -v list=" $(echo "$chains" | tr '\n' ' ') " '
          $1 == "-A" { for (i = 2; i < NF; i++) if (($i == "-j" || $i == "-g") && index(list, " " $(i + 1) " ")) { sub(/^-A/, "-D"); print; next } }' <<<"$save"
        for c in $chains; do echo ":$c - [0:0]"; done
        for c in $chains; do echo "-X $c"; done
        echo COMMIT
      } | "$fam-restore" --noflush || say "realnode: WARNING: could not remove $fam $table chains: $(echo "$chains" | tr '\n' ' ')"
    done
  done
  rm -f "$f"
}

# realnode_unmount_under DIR... : unmount everything at or below each DIR, deepest first
realnode_unmount_under() {
  local d mnt
  for d in "$@"; do
    awk -v d="$d" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r |
      while read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt" || say "realnode: WARNING: cannot unmount $mnt"; done
  done
}

# realnode_cgroups_cleanup : the kubelet's /kubepods tree (QoS and pod cgroups) in every hierarchy
realnode_cgroups_cleanup() {
  local d
  for d in /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d $d ]] && say "realnode: WARNING: $d still has processes: $(tr '\n' ' ' < "$d/cgroup.procs" 2>/dev/null)"
  done
  return 0
}

# The kubelet sets these kernel settings at start (panic on oops, overcommit, key quotas) unless
# they already have its values; they are saved before the first start and put back on down.
KUBELET_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

realnode_sysctls_save() {
  local f=$REALNODE_DIR/sysctls-before k
  [[ -f $f ]] && return 0
  for k in "${KUBELET_SYSCTLS[@]}"; do echo "$k $(cat "/proc/sys/$k")"; done > "$f.tmp"
  mv "$f.tmp" "$f"
}

realnode_sysctls_restore() {
  local f=$REALNODE_DIR/sysctls-before k v
  [[ -f $f ]] || return 0
  while read -r k v; do
    [[ $(cat "/proc/sys/$k") == "$v" ]] || echo "$v" > "/proc/sys/$k" || say "realnode: WARNING: cannot restore $k=$v"
  done < "$f"
  rm -f "$f"
}

# realnode_kill_shims : containerd-shim processes of our containerd (found by its socket address)
# that outlived their pods; dockerd's shims use another address and are left alone
realnode_kill_shims() {
  local pids
  pids=$(pgrep -f -- "containerd-shim.* -address $REALNODE_CONTAINERD_SOCK( |$)" || true)
  [[ -n $pids ]] || return 0
  say "realnode: killing leftover containerd shims: $(echo "$pids" | tr '\n' ' ')"
  # shellcheck disable=SC2086  # one pid per word
  kill -KILL $pids 2>/dev/null || true
}
