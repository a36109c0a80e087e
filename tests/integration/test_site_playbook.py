"""site.yml as a whole: the molecule `default` scenario (site.yml against the test environment, a second
converge that changes nothing, then verify.yml - objects, registry, rollout, Pod Security - and cleanup),
and on the real node the page served through the NodePort."""

import os
import re
import subprocess
import sys
import urllib.request

import pytest

from conftest import run_playbook

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


@pytest.mark.integration
@pytest.mark.realnode
def test_site_serves_the_page_from_the_real_node(repo_root, kubeconfig, namespace, registry, base_image, core_v1):
    """On the real node (scripts/testenv up --node real) the deploy role's own HTTP check runs and passes,
    and the page it found answers us too: through the NodePort, kube-proxy and a real container."""
    node_key = "kubedev.io/real-node"  # the real node's label and taint, value "true"
    play_vars = {
        "kubedev_cluster_provider": "existing",
        "kubedev_install_tools": False,
        "kubedev_kubeconfig": kubeconfig,
        "kubedev_namespace": namespace,
        "kubedev_registry": registry,
        "kubedev_base_image": base_image,
        "deploy_node_selector": {node_key: "true"},
        "deploy_tolerations": [{"key": node_key, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
        "deploy_http_check": "true",
    }
    proc = run_playbook(repo_root / "playbooks" / "site.yml", extra_vars=play_vars)
    output = ANSI.sub("", proc.stdout)
    check = re.search(r"TASK \[kubedev\.devloop\.deploy : Check that the page shows the config values\][^\n]*\n(\w+):", output)
    assert check and check.group(1) == "ok", output[-5000:]
    url = re.search(r"The app: (http://[0-9.]+:\d+)", output).group(1)
    node_ips = [a.address for n in core_v1.list_node(label_selector=f"{node_key}=true").items
                for a in n.status.addresses if a.type == "InternalIP"]
    assert url.split("//")[1].split(":")[0] in node_ips
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + "/", timeout=10) as response:
        page = response.read().decode()
    assert 'MY_NON_SECRET: "foo"' in page
    assert 'MY_OTHER_NON_SECRET: "bar"' in page
