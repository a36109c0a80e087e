package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// what this project's sandboxes look like: full bounding set but CAP_SYS_RESOURCE (bit 24),
// no right to raise limits, nofile hard limit 20000, oom_score_adj 0
var sandbox = Limits{
	Bounding:    0x1fffeffffff,
	MayRaise:    false,
	HardRlimits: map[string]uint64{"RLIMIT_NOFILE": 20000, "RLIMIT_NPROC": 4096},
	OOMScoreAdj: 0,
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrivilegedCapsLoseOnlyWhatTheBoundingSetLacks(t *testing.T) {
	proc := decode(t, `{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_SYS_ADMIN"],
		"effective":["CAP_SYS_RESOURCE","CAP_NET_ADMIN"],"permitted":["CAP_SYS_RESOURCE"],"ambient":[]}}`)
	notes := AdjustProcess(proc, sandbox)
	caps := proc["capabilities"].(map[string]any)
	if got := caps["bounding"]; !reflect.DeepEqual(got, []any{"CAP_CHOWN", "CAP_SYS_ADMIN"}) {
		t.Errorf("bounding = %v", got)
	}
	if got := caps["effective"]; !reflect.DeepEqual(got, []any{"CAP_NET_ADMIN"}) {
		t.Errorf("effective = %v", got)
	}
	if got := caps["permitted"]; !reflect.DeepEqual(got, []any{}) {
		t.Errorf("permitted = %v", got)
	}
	if len(notes) != 1 {
		t.Errorf("notes = %v", notes)
	}
}

func TestRlimitsClampToTheHardLimitAndInfinitySurvivesWhereAllowed(t *testing.T) {
	proc := decode(t, `{"rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576},
		{"type":"RLIMIT_NPROC","hard":100,"soft":50},{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615}]}`)
	AdjustProcess(proc, sandbox)
	want := `{"rlimits":[{"hard":20000,"soft":20000,"type":"RLIMIT_NOFILE"},{"hard":100,"soft":50,"type":"RLIMIT_NPROC"},` +
		`{"hard":18446744073709551615,"soft":18446744073709551615,"type":"RLIMIT_CORE"}]}`
	if got := encode(t, proc); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestNegativeOOMScoreAdjIsRaisedToOurs(t *testing.T) {
	proc := decode(t, `{"oomScoreAdj":-998}`)
	AdjustProcess(proc, sandbox)
	if got := encode(t, proc); got != `{"oomScoreAdj":0}` {
		t.Errorf("got %s", got)
	}
	proc = decode(t, `{"oomScoreAdj":500}`)
	if notes := AdjustProcess(proc, sandbox); notes != nil {
		t.Errorf("a higher value must stay: %v", notes)
	}
}

func TestAnOrdinaryHostChangesNothing(t *testing.T) {
	full := Limits{Bounding: 0x1ffffffffff, MayRaise: true, HardRlimits: map[string]uint64{"RLIMIT_NOFILE": 1024}}
	in := `{"capabilities":{"bounding":["CAP_SYS_RESOURCE"]},"oomScoreAdj":-998,"rlimits":[{"type":"RLIMIT_NOFILE","hard":1048576,"soft":1048576}]}`
	proc := decode(t, in)
	if notes := AdjustProcess(proc, full); notes != nil {
		t.Errorf("changed %v", notes)
	}
}

func TestSpecFileFindsBundleAndProcessArguments(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--root", "/run/x", "--log", "/l", "create", "--bundle", "/b", "id"}, "/b/config.json"},
		{[]string{"--systemd-cgroup", "run", "-b=/c", "id"}, "/c/config.json"},
		{[]string{"create", "id"}, "config.json"},
		{[]string{"--root=/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, "/tmp/p.json"},
		{[]string{"--root", "/r", "start", "id"}, ""},
		{[]string{"--version"}, ""},
	}
	for _, c := range cases {
		if got := specFile(c.args); got != c.want {
			t.Errorf("specFile(%v) = %q, want %q", c.args, got, c.want)
		}
	}
}

func TestAdjustFileRewritesConfigJSONKeepingUnknownFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	in := `{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]},"x-extra":{"a":1}},"linux":{"z":true}}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	lim, err := hostLimits()
	if err != nil {
		t.Fatal(err)
	}
	if err := adjustFile(path); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	doc := decode(t, string(out))
	if doc["linux"] == nil || doc["process"].(map[string]any)["x-extra"] == nil {
		t.Errorf("unknown fields lost: %s", out)
	}
	bounding := doc["process"].(map[string]any)["capabilities"].(map[string]any)["bounding"].([]any)
	hasResource := lim.Bounding&(1<<24) != 0
	if (len(bounding) == 2) != hasResource {
		t.Errorf("this host's bounding set %x, after: %v", lim.Bounding, bounding)
	}
}
