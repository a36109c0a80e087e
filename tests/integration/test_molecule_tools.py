"""The molecule `tools` scenario: the tools role in a locally built Debian 12 container, with
kubectl and minikube from a local mirror of the release sites (scripts/artifact-mirror) and Docker
from Debian: check mode on a fresh host, converge, a second converge that changes nothing, then
verify.yml (installed versions, docker group, error messages, the minikube role's no-cluster paths).
Needs a running dockerd (scripts/testenv up) and the kubectl the test environment builds."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.molecule

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\")
SCENARIO = "tools"
# molecule writes "tools ➜ converge: Executed: Successful", or "tools > converge: ..." with NO_COLOR
ARROW = r"\s+(?:➜|>)\s+"


def test_molecule_tools_scenario(repo_root):
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    mirror = str(pathlib.Path(repo_root) / "scripts" / "artifact-mirror")
    try:
        proc = subprocess.run(
            [os.path.join(venv_bin, "molecule"), "test", "-s", SCENARIO],
            cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        mirror_after = subprocess.run([mirror, "url"], capture_output=True, text=True)
    finally:
        # molecule's cleanup step stops the mirror, also after a failed step; this covers an
        # interrupted run as well
        subprocess.run([mirror, "stop"], check=False)
    output = ANSI.sub("", proc.stdout)  # molecule's log and ansible's output interleaved, in order
    tail = output[-20000:]
    assert proc.returncode == 0, tail
    for step in ("check", "converge", "idempotence", "verify", "cleanup", "destroy"):
        assert re.search(rf"{SCENARIO}{ARROW}{step}: Executed: Successful", output), f"{step} did not succeed:\n{tail}"
    # the idempotence step really ran a second converge (and it changed nothing)
    idempotence = re.split(rf"{SCENARIO}{ARROW}idempotence\]?:? Executing", output, maxsplit=1)
    assert len(idempotence) == 2, tail
    recap = re.search(r"kubedev-tools-debian12\s+: ok=\d+\s+changed=(\d+)", idempotence[1])
    assert recap and recap.group(1) == "0", idempotence[1][:20000]
    # nothing of the run is left behind
    containers = subprocess.run(["docker", "ps", "-a", "-q", "--filter", "name=^kubedev-tools-debian12$"],
                                capture_output=True, text=True, check=True).stdout
    assert containers.strip() == "", f"molecule left the instance behind: {containers}"
    assert mirror_after.returncode != 0, f"molecule's cleanup left the artifact mirror running at {mirror_after.stdout}"
