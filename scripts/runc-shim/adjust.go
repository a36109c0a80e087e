package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Limits is what the runtime may hand a container on this host: the capability bounding set,
// whether it may raise resource limits (CAP_SYS_RESOURCE in its effective set), its own hard
// rlimits and its own oom_score_adj.
type Limits struct {
	Bounding    uint64
	MayRaise    bool
	HardRlimits map[string]uint64 // "RLIMIT_NOFILE" -> current hard limit
	OOMScoreAdj int
}

// capBits are the Linux capability numbers (linux/capability.h).
var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// rlimitResources are the Linux resource numbers of the rlimit names an OCI spec uses.
var rlimitResources = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

// AdjustProcess rewrites an OCI process object (config.json's "process", or runc exec's
// --process file) so runc can apply it here. It only ever takes away: capabilities outside the
// bounding set, rlimits above the hard limits when raising is not allowed, an oom_score_adj below
// our own when lowering is not allowed. It returns what it changed, one line each.
func AdjustProcess(proc map[string]any, lim Limits) []string {
	var notes []string
	if caps, ok := proc["capabilities"].(map[string]any); ok {
		notes = append(notes, dropCaps(caps, lim.Bounding)...)
	}
	if !lim.MayRaise {
		if rl, ok := proc["rlimits"].([]any); ok {
			notes = append(notes, clampRlimits(rl, lim.HardRlimits)...)
		}
		if adj, ok := intOf(proc["oomScoreAdj"]); ok && adj < lim.OOMScoreAdj {
			proc["oomScoreAdj"] = json.Number(strconv.Itoa(lim.OOMScoreAdj))
			notes = append(notes, fmt.Sprintf("oomScoreAdj %d -> %d", adj, lim.OOMScoreAdj))
		}
	}
	return notes
}

func dropCaps(caps map[string]any, bounding uint64) []string {
	dropped := map[string]bool{}
	for _, set := range []string{"bounding", "effective", "inheritable", "permitted", "ambient"} {
		list, ok := caps[set].([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, c := range list {
			name, _ := c.(string)
			if bit, known := capBits[name]; known && bounding&(1<<bit) == 0 {
				dropped[name] = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	if len(dropped) == 0 {
		return nil
	}
	names := make([]string, 0, len(dropped))
	for n := range dropped {
		names = append(names, n)
	}
	sort.Strings(names)
	return []string{fmt.Sprintf("dropped %v (not in the bounding set)", names)}
}

func clampRlimits(rlimits []any, hard map[string]uint64) []string {
	var notes []string
	for _, r := range rlimits {
		rl, ok := r.(map[string]any)
		if !ok {
			continue
		}
		name, _ := rl["type"].(string)
		max, known := hard[name]
		if !known {
			continue
		}
		h, hok := uintOf(rl["hard"])
		s, sok := uintOf(rl["soft"])
		if hok && h > max {
			rl["hard"] = json.Number(strconv.FormatUint(max, 10))
			notes = append(notes, fmt.Sprintf("%s hard %d -> %d", name, h, max))
		}
		if sok && s > max {
			rl["soft"] = json.Number(strconv.FormatUint(max, 10))
			notes = append(notes, fmt.Sprintf("%s soft %d -> %d", name, s, max))
		}
	}
	return notes
}

func uintOf(v any) (uint64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(n.String(), 10, 64)
	return u, err == nil
}

func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n.String())
	return i, err == nil
}
