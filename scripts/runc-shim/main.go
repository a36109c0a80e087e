// Command runc-shim runs runc with the container's process spec cut down to what this host lets a
// runtime grant. Some sandboxes (this project's development machines among them) run everything
// without CAP_SYS_RESOURCE in the bounding set. There `docker run --privileged`, which asks for
// every capability, fails with "unable to apply caps: operation not permitted", and so does any
// container whose rlimits or oom_score_adj need that capability. minikube's docker driver creates
// its node container --privileged, and the kubelet inside asks for oom_score_adj -998.
//
// For `create`/`run` it edits the bundle's config.json; for `exec`, the --process file. It drops
// capabilities outside the bounding set, clamps rlimits to the hard limits and raises a negative
// oom_score_adj to our own. Then it execs the real runc with the same arguments. Where nothing
// needs cutting, it changes nothing, so on an ordinary host it is a pass-through.
//
// The real runc is <this program>.real when that exists (dpkg-divert installs it there), else the
// first runc on PATH that is not this program.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Global runc flags that take a value (`runc --root X create ...`).
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func main() {
	real, err := realRunc()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runc-shim:", err)
		os.Exit(127)
	}
	if file := specFile(os.Args[1:]); file != "" {
		if err := adjustFile(file); err != nil {
			// runc will report its own error on the unchanged spec; ours explains why
			fmt.Fprintln(os.Stderr, "runc-shim: leaving", file, "as it is:", err)
		}
	}
	err = syscall.Exec(real, append([]string{real}, os.Args[1:]...), os.Environ())
	fmt.Fprintln(os.Stderr, "runc-shim: exec", real, err)
	os.Exit(127)
}

func realRunc() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(self + ".real"); err == nil {
		return self + ".real", nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH") + ":/usr/sbin:/usr/bin:/sbin:/bin") {
		cand := filepath.Join(dir, "runc")
		if st, err := os.Stat(cand); err == nil && !st.IsDir() && !sameFile(cand, self) {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no runc found besides %s", self)
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// specFile returns the JSON file runc will read the process from, or "" for other subcommands.
func specFile(args []string) string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if globalValueFlags[args[i]] {
			i++
		}
		i++
	}
	if i >= len(args) {
		return ""
	}
	sub, rest := args[i], args[i+1:]
	switch sub {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return filepath.Join(bundle, "config.json")
	case "exec":
		return flagValue(rest, "--process", "-p")
	}
	return ""
}

func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if (a == long || a == short) && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(a, short+"="); ok {
			return v
		}
	}
	return ""
}

// adjustFile rewrites a config.json (process under "process") or a bare process JSON in place.
func adjustFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // rlimits are uint64 (RLIM_INFINITY does not survive float64)
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	proc := doc
	if p, ok := doc["process"].(map[string]any); ok {
		proc = p
	}
	lim, err := hostLimits()
	if err != nil {
		return err
	}
	notes := AdjustProcess(proc, lim)
	if len(notes) == 0 {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := path + ".runc-shim"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if os.Getenv("RUNC_SHIM_DEBUG") != "" {
		fmt.Fprintln(os.Stderr, "runc-shim:", path, strings.Join(notes, "; "))
	}
	return nil
}
