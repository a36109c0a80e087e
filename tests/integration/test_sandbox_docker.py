"""Issue 26, finding 12: `scripts/sandbox-docker install` against a real dockerd.

Each test runs the script in private mount, pid and network namespaces (unshare) holding their own /run,
/etc/docker and /usr/local/libexec, with a dockerd of their own (data in tmp_path, no bridge, no iptables): the
machine's dockerd, its daemon.json, its runc shim and its docker0 bridge (which a dockerd started with
--bridge none deletes) are neither seen nor touched. Next to it runs what a
minikube node looks like from the host: a process named dockerd in namespaces of its own, started first so
that it has the lowest pid, which records any SIGHUP it gets.

- the reload reaches the dockerd of the script's namespaces (by its pid file), never the node's, and the
  script checks that dockerd then reports the runtime;
- a dockerd that keeps its runtime (a --default-runtime flag wins over daemon.json) fails the script,
  saying so, instead of passing silently;
- daemon.json is written 0644 whatever the umask (or keeps the old file's mode), and a symlinked
  daemon.json stays a link whose target gets the change.

Needs root, unshare and Debian's dockerd (the test environment's); skipped on a machine that does not
need the shim (then the script does nothing)."""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import textwrap

import pytest

from conftest import ROOT

# KUBEDEV_TEST_SCRIPTS: another copy of scripts/ to test (e.g. `git archive HEAD scripts`, to see these fail)
SCRIPT = pathlib.Path(os.environ.get("KUBEDEV_TEST_SCRIPTS", ROOT / "scripts")) / "sandbox-docker"
DOCKERD = "/usr/sbin/dockerd"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, dockerd)"),
    pytest.mark.skipif(not os.path.exists(DOCKERD) or not shutil.which("unshare"), reason="needs dockerd and unshare"),
]

# A minikube node's dockerd as the host sees it: comm "dockerd", in other mount and pid namespaces.
NODE_DOCKERD = """\
#!/usr/bin/python3
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGHUP, lambda *_: (out / "node-dockerd-got-sighup").write_text("yes"))
(out / "node-dockerd-ready").write_text("")
while True:
    time.sleep(1)
"""

HARNESS = r"""
set -euo pipefail
t=$1 script=$2; shift 2
# our own /run (the test dockerd's socket and pid file), /etc/docker and shim directory: the machine's stay hidden
mount -t tmpfs tmpfs /run
mount --bind "$t/etc-docker" /etc/docker
mount -t tmpfs tmpfs /usr/local/libexec
unset DOCKER_HOST DOCKER_CONTEXT
unshare --mount --pid --fork --mount-proc "$t/node/dockerd" "$t" &
for ((i = 0; i < 100; i++)); do [[ -e $t/node-dockerd-ready ]] && break; sleep 0.1; done
/usr/sbin/dockerd --data-root "$t/data" --exec-root /run/kubedev-test-exec --bridge none --iptables=false \
  --ip6tables=false --storage-driver vfs "$@" >"$t/dockerd.log" 2>&1 &
for ((i = 0; i < 150; i++)); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info --format '{{.DefaultRuntime}}' > "$t/runtime-before"
pgrep -x dockerd > "$t/dockerd-pids"
set +e
(umask 077 && "$script" install) >"$t/out" 2>&1
echo $? > "$t/rc"
docker info --format '{{.DefaultRuntime}}' > "$t/runtime-after"
"$script" installed >/dev/null 2>&1
echo $? > "$t/installed-rc"
"""


def run_install(tmp_path, daemon_json=None, dockerd_args=()):
    """Run `sandbox-docker install` in the sandbox above; returns a dict of what happened.
    daemon_json: None (no file), or a callable(etc_docker_dir) that puts one in place."""
    needed = subprocess.run([str(SCRIPT), "needed"], capture_output=True, text=True)
    if needed.returncode != 0:
        pytest.skip("this machine's capability bounding set is complete: sandbox-docker does nothing here")
    (tmp_path / "etc-docker").mkdir()
    (tmp_path / "node").mkdir()
    node = tmp_path / "node" / "dockerd"
    node.write_text(NODE_DOCKERD)
    node.chmod(0o755)
    if daemon_json:
        daemon_json(tmp_path / "etc-docker")
    harness = tmp_path / "harness.sh"
    harness.write_text(textwrap.dedent(HARNESS))
    proc = subprocess.run(
        # --net too: a dockerd started with --bridge none deletes docker0 of its network namespace
        ["unshare", "--net", "--pid", "--mount", "--fork", "--mount-proc", "--propagation", "private",
         "bash", str(harness), str(tmp_path), str(SCRIPT), *dockerd_args],
        capture_output=True, text=True, timeout=180,
    )
    read = lambda name: (tmp_path / name).read_text().strip() if (tmp_path / name).exists() else None
    result = {
        "harness": proc, "rc": read("rc"), "out": read("out") or "",
        "before": read("runtime-before"), "after": read("runtime-after"),
        "node_hupped": (tmp_path / "node-dockerd-got-sighup").exists(),
        "pids": (read("dockerd-pids") or "").split(), "dockerd_log": read("dockerd.log") or "",
        "installed_rc": read("installed-rc"),
    }
    assert proc.returncode == 0 and result["rc"] is not None, f"the sandbox failed: {proc.stdout}{proc.stderr}"
    assert result["before"] == "runc", f"the test dockerd did not start with runc: {result}"
    return result


def test_reload_reaches_the_hosts_dockerd_and_is_checked(tmp_path):
    result = run_install(tmp_path)
    # the setup is the one that fooled `pgrep -x dockerd | head -1`: the node's dockerd has the lower pid
    assert len(result["pids"]) == 2, result
    assert not result["node_hupped"], f"the SIGHUP went to the node's dockerd:\n{result['out']}"
    assert result["rc"] == "0", result["out"]
    assert result["after"] == "kubedev-runc", f"the dockerd was not reloaded:\n{result['out']}"
    assert result["installed_rc"] == "0"


def test_install_fails_when_dockerd_keeps_its_runtime(tmp_path):
    # a --default-runtime flag conflicts with daemon.json's: dockerd refuses the reload and keeps runc
    result = run_install(tmp_path, dockerd_args=["--default-runtime", "runc"])
    assert result["after"] == "runc", result
    assert result["rc"] != "0", f"install passed although dockerd still runs runc:\n{result['out']}"
    assert "default runtime is still 'runc', not kubedev-runc" in result["out"], result["out"]
    # and testenv's "is dockerd ready" question (sandbox-docker installed) says no
    assert result["installed_rc"] != "0"
    assert not result["node_hupped"]


def test_new_daemon_json_is_0644_under_umask_077(tmp_path):
    result = run_install(tmp_path)
    path = tmp_path / "etc-docker" / "daemon.json"
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o644, f"daemon.json is {oct(mode)}:\n{result['out']}"
    assert json.loads(path.read_text())["default-runtime"] == "kubedev-runc"
    assert not list((tmp_path / "etc-docker").glob("*tmp*")), "a temporary file was left behind"


def test_symlinked_daemon_json_stays_a_link_and_keeps_its_mode(tmp_path):
    kept = tmp_path / "config-repo" / "daemon.json"

    def link(etc_docker):
        kept.parent.mkdir()
        kept.write_text(json.dumps({"log-level": "info"}) + "\n")
        kept.chmod(0o640)
        (etc_docker / "daemon.json").symlink_to(kept)

    result = run_install(tmp_path, daemon_json=link)
    link_path = tmp_path / "etc-docker" / "daemon.json"
    assert link_path.is_symlink(), f"the symlink was replaced by a file:\n{result['out']}"
    assert os.readlink(link_path) == str(kept)
    conf = json.loads(kept.read_text())
    assert conf == {"log-level": "info", "runtimes": {"kubedev-runc": {"path": "/usr/local/libexec/kubedev/runc-shim"}},
                    "default-runtime": "kubedev-runc"}, conf
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert result["rc"] == "0" and result["after"] == "kubedev-runc", result["out"]


def test_daemon_json_that_is_no_json_is_left_alone(tmp_path):
    def broken(etc_docker):
        (etc_docker / "daemon.json").write_text('{"log-level": "info",\n')

    before = '{"log-level": "info",\n'
    needed = subprocess.run([str(SCRIPT), "needed"], capture_output=True, text=True)
    if needed.returncode != 0:
        pytest.skip("sandbox-docker does nothing here")
    # dockerd itself would refuse to start on it, so this runs the script alone (no dockerd answers)
    etc = tmp_path / "etc"
    etc.mkdir()
    broken(etc)
    proc = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private", "bash", "-c",
         'mount -t tmpfs tmpfs /usr/local/libexec && mount -t tmpfs tmpfs /run && exec "$0" install', str(SCRIPT)],
        env=dict(os.environ, KUBEDEV_DOCKER_DAEMON_JSON=str(etc / "daemon.json")), capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "is not valid JSON" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert (etc / "daemon.json").read_text() == before
    assert sorted(p.name for p in etc.iterdir()) == ["daemon.json"]
