package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hostLimits reads what this process may grant: /proc/self/status (CapBnd, CapEff), getrlimit
// for every resource an OCI spec can name, /proc/self/oom_score_adj.
func hostLimits() (Limits, error) {
	lim := Limits{HardRlimits: map[string]uint64{}}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return lim, err
	}
	defer f.Close()
	var eff uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch key {
		case "CapBnd":
			lim.Bounding, err = strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		case "CapEff":
			eff, err = strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		}
		if err != nil {
			return lim, fmt.Errorf("/proc/self/status %s: %w", key, err)
		}
	}
	lim.MayRaise = eff&(1<<capBits["CAP_SYS_RESOURCE"]) != 0
	for name, res := range rlimitResources {
		var rl syscall.Rlimit
		if syscall.Getrlimit(res, &rl) == nil {
			lim.HardRlimits[name] = rl.Max
		}
	}
	raw, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return lim, err
	}
	lim.OOMScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(raw)))
	return lim, err
}
