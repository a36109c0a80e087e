"""The API server restarting in the middle of a wait does not fail the task: the watches reconnect,
list again when their resourceVersion is gone, and the rollout is still followed to its end."""

import os
import subprocess
import time

import pytest

from test_set_image_support import (
    APP,
    ROOT,
    create,
    deployment,
    json_env,
    kubectl,
    parse_task_result,
    read,
    rollout_done,
    task_playbook,
)

pytestmark = pytest.mark.integration


def wait_until(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # the API server may be down at this moment
            pass
        time.sleep(0.2)
    raise AssertionError("%s not reached within %ss" % (what, seconds))


def test_api_server_restart_mid_wait(tmp_path, kubeconfig, apps_v1, namespace):
    if not (ROOT / ".testenv" / "pids" / "kube-apiserver.cmd").exists() or os.environ.get("KUBEDEV_TEST_KUBECONFIG"):
        pytest.skip("needs the API server started by scripts/testenv (restarts it)")
    # A slow rollout: one pod at a time, each available only 4 s after it is ready.
    create(apps_v1, kubeconfig, namespace, deployment(
        "slow", replicas=4, minReadySeconds=4, strategy={"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    playbook = task_playbook(tmp_path, "kubedev.devloop.set_image", {
        "name": "slow", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 240})
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", **json_env(kubeconfig))
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(playbook)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def rollout_started():
            status = read(apps_v1, namespace, "Deployment", "slow")["status"]
            return status.get("observedGeneration") == 2 and status.get("updatedReplicas", 0) >= 1

        wait_until("rollout under way", rollout_started, 90)
        restart = subprocess.run([str(ROOT / "scripts" / "testenv"), "restart", "kube-apiserver"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
        assert restart.returncode == 0, restart.stderr
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    result = parse_task_result(stdout)
    assert proc.returncode == 0, (result, stderr)
    (target,) = result["targets"]
    assert target["status"] == "complete"
    assert target["watch_reconnects"] >= 1          # the restart really happened during the wait
    wait_until("API server ready", lambda: kubectl(kubeconfig, "get", "--raw", "/readyz", check=False).returncode == 0, 120)
    rollout_done(kubeconfig, namespace, "Deployment", "slow", timeout="1s")
