"""kubedev.devloop.rollout_status: the wait alone, read-only, against the real test cluster."""

import pytest

from test_set_image_support import APP, create, daemonset, deployment, kubectl, read, rollout_done, run_module, statefulset

pytestmark = pytest.mark.integration


def test_complete_deployment_is_reported_without_change(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    before = read(apps_v1, namespace, "Deployment", "web")
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {"name": "web", "namespace": namespace})
    assert result["changed"] is False
    (target,) = result["targets"]
    assert target["status"] == "complete" and target["revision"] == "1" and target["new_replicaset"]
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_waits_for_a_rollout_started_elsewhere(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3))
    kubectl(kubeconfig, "-n", namespace, "set", "image", "deployment/web", "web=" + APP + ":2")
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {
        "name": ["web"], "namespace": namespace, "wait_timeout": 120})
    (target,) = result["targets"]
    assert target["status"] == "complete"
    assert target["revision"] == "2"
    rollout_done(kubeconfig, namespace, "Deployment", "web", timeout="1s")   # kubectl agrees, at once
    live = read(apps_v1, namespace, "Deployment", "web")["status"]
    assert live["updatedReplicas"] == live["availableReplicas"] == live["replicas"] == 3


def test_failing_rollout_fails_fast_in_check_mode_too(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    kubectl(kubeconfig, "-n", namespace, "set", "image", "deployment/web", "web=registry.invalid/app:2")
    result, elapsed = run_module(tmp_path, kubeconfig, "rollout_status", {
        "name": "web", "namespace": namespace, "wait_timeout": 120}, flags=("--check",))
    assert result["failed"] is True and result["changed"] is False
    (target,) = result["targets"]
    assert target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert target["pod"] in result["msg"]
    assert elapsed < 60


def test_statefulset_and_daemonset_by_label_selector(tmp_path, kubeconfig, apps_v1, namespace):
    body = statefulset("db", replicas=2)
    body["metadata"]["labels"] = {"tier": "data"}
    create(apps_v1, kubeconfig, namespace, body)
    kubectl(kubeconfig, "-n", namespace, "set", "image", "statefulset/db", "db=" + APP + ":2")
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {
        "kind": "StatefulSet", "label_selectors": ["tier=data"], "namespace": namespace})
    assert [(t["name"], t["status"]) for t in result["targets"]] == [("db", "complete")]
    assert result["targets"][0]["revision"] == read(apps_v1, namespace, "StatefulSet", "db")["status"]["updateRevision"]

    create(apps_v1, kubeconfig, namespace, daemonset("agent"))
    kubectl(kubeconfig, "-n", namespace, "set", "image", "daemonset/agent", "agent=" + APP + ":2-crash")
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {
        "kind": "DaemonSet", "name": "agent", "namespace": namespace, "crashloop_restarts": 1, "wait_timeout": 150})
    assert result["targets"][0]["status"] == "failed"
    assert result["targets"][0]["reason"] == "CrashLoopBackOff"


def test_missing_object_and_on_delete_are_clear_errors(tmp_path, kubeconfig, apps_v1, namespace):
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {"name": "ghost", "namespace": namespace})
    assert result["msg"] == "Deployment 'ghost' not found in namespace %r" % namespace
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=1, updateStrategy={"type": "OnDelete"}), wait=False)
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {"kind": "StatefulSet", "name": "db", "namespace": namespace})
    assert "uses updateStrategy OnDelete" in result["msg"]
    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {"name": "x", "namespace": namespace, "wait_timeout": 0})
    assert result["msg"] == "wait_timeout must be a positive number of seconds, got 0"
