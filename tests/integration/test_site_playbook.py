"""site.yml as a whole: the molecule `default` scenario (site.yml against the test environment, a second
converge that changes nothing, then verify.yml - objects, registry, rollout, Pod Security - and cleanup).
site.yml on the real node, with the page served through the NodePort, is in test_realnode.py."""

import os
import re
import subprocess
import sys

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\")


@pytest.mark.molecule
@pytest.mark.integration
def test_molecule_default_scenario(repo_root, kubeconfig):
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1", ANSIBLE_NOCOLOR="1",
               KUBEDEV_TEST_KUBECONFIG=kubeconfig)
    proc = subprocess.run(
        [os.path.join(venv_bin, "molecule"), "test", "-s", "default"],
        cwd=repo_root, env=env, capture_output=True, text=True,
    )
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-20000:]
    for step in ("converge", "idempotence", "verify", "cleanup"):
        # "default ➜ verify: Executed: Successful" (colour) or "[default > verify] Executed: Successful" (plain)
        assert re.search(rf"default\s*(?:➜|>)\s*{step}\]?:?\s+Executed: Successful", output), \
            f"{step} did not succeed:\n{output[-20000:]}"
