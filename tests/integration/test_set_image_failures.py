"""kubedev.devloop.set_image when the new revision cannot come up: fail fast, say why, roll back."""

import pytest

from test_set_image_support import APP, create, deployment, images, kubectl, read, rollout_done, run_module

pytestmark = pytest.mark.integration

NOWHERE = {"kubedev.io/no-such-node": "true"}  # a nodeSelector no node matches: pods stay Pending


def test_unpullable_image_fails_fast_naming_pod_and_reason(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3))
    timeout = 120
    result, elapsed = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": "registry.invalid/app:2"},
        "wait_timeout": timeout})

    assert result["failed"] is True
    (target,) = result["targets"]
    assert target["status"] == "failed"
    assert target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert target["pod"].startswith(target["new_replicaset"] + "-")
    assert "Deployment %s/web rollout failed: pod %s container web: %s" % (namespace, target["pod"], target["reason"]) in result["msg"]
    assert "registry.invalid/app:2" in result["msg"]
    # Behaviour, not speed: it did not sit out the timeout.
    assert elapsed < timeout / 2
    # No rollback was asked for: the broken image stays, the old pods keep serving.
    assert result["rolled_back"] is False
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": "registry.invalid/app:2"}


def test_crash_looping_image_fails_with_crash_loop_back_off(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    result, elapsed = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2-crash"},
        "crashloop_restarts": 1, "wait_timeout": 150})

    (target,) = result["targets"]
    assert target["status"] == "failed"
    assert target["reason"] == "CrashLoopBackOff"
    assert "container web: CrashLoopBackOff: restarted " in target["message"]
    assert "CrashLoopBackOff" in result["msg"] and target["pod"] in result["msg"]
    assert elapsed < 150 / 2


def test_rollback_restores_the_previous_images_and_waits_for_them(tmp_path, kubeconfig, apps_v1, namespace):
    body = deployment("web", replicas=3, containers=[{"name": "web", "image": APP + ":1"},
                                                     {"name": "side", "image": APP + "-side:1"}])
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "initial"}
    create(apps_v1, kubeconfig, namespace, body)

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"*": "registry.invalid/app:2"},
        "rollback_on_failure": True, "change_cause": "broken release", "wait_timeout": 120})

    assert result["failed"] is True
    assert result["rolled_back"] is True
    (target,) = result["targets"]
    assert target["status"] == "failed" and target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert target["rolled_back"] is True
    assert target["rollback"]["status"] == "complete"
    assert target["rollback"]["images"] == {"web": APP + ":1", "side": APP + "-side:1"}
    assert "Rolled back Deployment %s/web to the previous images (rollout complete)" % namespace in result["msg"]

    live = read(apps_v1, namespace, "Deployment", "web")
    assert images(live) == {"web": APP + ":1", "side": APP + "-side:1"}
    assert live["metadata"]["annotations"]["kubernetes.io/change-cause"] == "initial"
    rollout_done(kubeconfig, namespace, "Deployment", "web", timeout="1s")   # complete, nothing half done
    status = live["status"]
    assert status["updatedReplicas"] == status["replicas"] == status["availableReplicas"] == 3


def test_progress_deadline_is_reported_when_it_is_the_first_signal(tmp_path, kubeconfig, apps_v1, namespace):
    # Pods that can never be scheduled show no pod-level failure; only the deadline catches them.
    body = deployment("web", progressDeadlineSeconds=4)
    body["spec"]["template"]["spec"]["nodeSelector"] = NOWHERE
    create(apps_v1, kubeconfig, namespace, body, wait=False)

    result, elapsed = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 120})

    (target,) = result["targets"]
    assert target["status"] == "failed"
    assert target["reason"] == "ProgressDeadlineExceeded"
    assert "has timed out progressing" in target["message"]
    assert "ProgressDeadlineExceeded" in result["msg"]
    assert elapsed < 120 / 2


def test_timeout_says_how_far_the_rollout_got(tmp_path, kubeconfig, apps_v1, namespace):
    body = deployment("web", replicas=2)
    body["spec"]["template"]["spec"]["nodeSelector"] = NOWHERE
    create(apps_v1, kubeconfig, namespace, body, wait=False)

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 4})

    (target,) = result["targets"]
    assert target["status"] == "timed_out"
    assert target["reason"] == "Timeout"
    assert target["message"].startswith("rollout not complete after 4s: ")
    assert "of 2" in target["message"]
    assert "not scheduled" in target["message"]
    assert "Deployment %s/web rollout timed out" % namespace in result["msg"]


def test_paused_deployment_fails_instead_of_waiting_forever(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    kubectl(kubeconfig, "-n", namespace, "rollout", "pause", "deployment/web")
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 60})
    (target,) = result["targets"]
    assert target["status"] == "failed"
    assert target["reason"] == "DeploymentPaused"
    assert "kubectl rollout resume" in result["msg"]
