"""The molecule `minikube` scenario: site.yml with the minikube provider on this machine for a fresh login
user (tools from the local artifact mirror, Docker from Debian, minikube's docker driver from the local
minikube mirror, the app built into minikube's Docker), a second site.yml that changes nothing, then
verify.yml: minikube status and addons, `minikube service --url` serving foo and bar, a Job from the
CronJob, `kubectl exec`, a node container removed by hand and recovered by the role, release.yml under a
loop of GETs without a failed request, and minikube_state=absent leaving no container, network or volume.
Needs scripts/testenv up (dockerd with the runc shim where this machine needs it) and
scripts/minikube-mirror build."""

import os
import pathlib
import pwd
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.molecule

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\")
SCENARIO = "minikube"
PROFILE = USER = "kubedev-molecule"
ARROW = r"\s+(?:➜|>)\s+"


def docker_names(*what):
    out = subprocess.run(["docker", *what, "--quiet", "--filter", f"name=^{PROFILE}$"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_molecule_minikube_scenario(repo_root):
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(venv_bin, "molecule"), "test", "-s", SCENARIO],
        cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    subprocess.run([str(pathlib.Path(repo_root) / "scripts" / "artifact-mirror"), "stop"], check=False)
    output = ANSI.sub("", proc.stdout)
    # kept for a look, with verify.yml's figures (start, stop, pause, release times)
    log = pathlib.Path(repo_root) / "tests" / "output" / "molecule-minikube.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    tail = output[-30000:]
    assert proc.returncode == 0, tail
    for step in ("converge", "idempotence", "verify", "cleanup"):
        assert re.search(rf"{SCENARIO}{ARROW}{step}: Executed: Successful", output), f"{step} did not succeed:\n{tail}"
    # converge really started minikube, and the second site.yml changed nothing
    converge, rest = re.split(rf"{SCENARIO}{ARROW}idempotence\]?:? Executing", output, maxsplit=1)
    assert re.search(r"TASK \[kubedev\.devloop\.minikube : Start minikube profile kubedev-molecule\][^\n]*\nchanged:", converge), converge[-20000:]
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", rest)
    assert recap and recap.group(1) == "0", rest[:20000]
    # verify.yml's release check printed its figures
    assert re.search(r"release\.yml took [\d.]+ s; \d+ requests, 0 failed", output), tail
    # cleanup removed the profile and the user
    assert docker_names("container", "ls", "--all") == []
    assert docker_names("network", "ls") == []
    assert docker_names("volume", "ls") == []
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)
