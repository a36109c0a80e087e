"""What the result claims is what happened: rolled_back only when the images are back and rolled out, a
DaemonSet's revision is the one holding its template, a StatefulSet rollback its controller cannot
finish (kubernetes/kubernetes#67250) says what to do."""

import json

import pytest

from conftest import wait_for
from rollout_race import start_set_image
from test_set_image_support import (
    APP,
    create,
    daemonset,
    deployment,
    images,
    kubectl,
    parse_task_result,
    read,
    rollout_done,
    run_module,
    statefulset,
)

pytestmark = pytest.mark.integration


def test_rollback_that_leaves_a_concurrent_edit_alone_is_not_rolled_back(tmp_path, kubeconfig, apps_v1, namespace):
    """While the module waits for a crash-looping release, someone else sets another image on `side`. The
    rollback restores `web` and leaves `side` alone: the previous state is not back, so rolled_back is false."""
    create(apps_v1, kubeconfig, namespace, deployment("web", containers=[
        {"name": "web", "image": APP + ":1"}, {"name": "side", "image": APP + "-side:1"}]))
    generation = read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"]
    module = start_set_image(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"*": APP + ":2-crash"},
        "rollback_on_failure": True, "crashloop_restarts": 2, "wait_timeout": 240})
    try:
        wait_for("the module's patch", lambda: read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"]
                 > generation, timeout=120)
        kubectl(kubeconfig, "-n", namespace, "set", "image", "deployment/web", "side=" + APP + "-side:someone-else")
        stdout, _ = module.communicate(timeout=600)
    finally:
        if module.poll() is None:
            module.kill()
    result = parse_task_result(stdout)

    assert result["failed"] is True
    assert result["rolled_back"] is False
    (target,) = result["targets"]
    assert target["reason"] == "CrashLoopBackOff"
    assert target["rolled_back"] is False
    assert target["rollback"]["images"] == {"web": APP + ":1"}
    assert target["rollback"]["left_alone"] == ["side"]
    assert "left alone: side, changed by someone else" in result["msg"]
    assert "Rollback did not complete" in result["msg"]
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":1", "side": APP + "-side:someone-else"}


def controller_revisions(kubeconfig, namespace):
    return json.loads(kubectl(kubeconfig, "-n", namespace, "get", "controllerrevisions", "-o", "json").stdout)["items"]


def holding_template(revisions, template):
    """The ControllerRevision whose stored pod template is `template` (what the DaemonSet controller stores)."""
    matches = [cr["metadata"]["name"] for cr in revisions
               if {k: v for k, v in cr["data"]["spec"]["template"].items() if k != "$patch"} == template]
    assert len(matches) == 1, matches
    return matches[0]


def test_daemonset_revision_is_the_one_holding_its_template(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, daemonset("agent"))
    for tag in ("2", "1"):   # back to the first template: the controller reuses its revision
        result, _ = run_module(tmp_path, kubeconfig, "set_image", {
            "kind": "DaemonSet", "name": "agent", "namespace": namespace, "containers": {"agent": APP + ":" + tag}})
        (target,) = result["targets"]
        assert target["status"] == "complete"
        live = read(apps_v1, namespace, "DaemonSet", "agent")
        assert target["revision"] == holding_template(controller_revisions(kubeconfig, namespace),
                                                      live["spec"]["template"])
    assert len(controller_revisions(kubeconfig, namespace)) == 2


def test_statefulset_rollback_the_controller_cannot_finish_says_what_to_do(tmp_path, kubeconfig, apps_v1, core_v1,
                                                                          namespace):
    """kubernetes/kubernetes#67250: under OrderedReady the controller never replaces the broken pod after the
    template is restored. The module says so at once instead of waiting out wait_timeout, and deleting
    the pod as it says does finish the rollback."""
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=2))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "kind": "StatefulSet", "name": "db", "namespace": namespace, "containers": {"db": "registry.invalid/app:2"},
        "rollback_on_failure": True, "wait_timeout": 240})

    assert result["failed"] is True and result["rolled_back"] is False
    (target,) = result["targets"]
    assert target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    rollback = target["rollback"]
    assert rollback["images"] == {"db": APP + ":1"}
    assert rollback["status"] == "failed" and rollback["reason"] == "StatefulSetRollbackStuck"
    instruction = "kubectl -n %s delete pod db-1" % namespace
    assert instruction in result["msg"] and "kubernetes/kubernetes#67250" in result["msg"]
    assert images(read(apps_v1, namespace, "StatefulSet", "db")) == {"db": APP + ":1"}

    # the controller really is stuck: db-1 still runs the failed revision
    pod = core_v1.read_namespaced_pod("db-1", namespace)
    assert pod.spec.containers[0].image == "registry.invalid/app:2"
    core_v1.delete_namespaced_pod("db-1", namespace)   # what the message says to do
    rollout_done(kubeconfig, namespace, "StatefulSet", "db", timeout="120s")
    assert core_v1.read_namespaced_pod("db-1", namespace).spec.containers[0].image == APP + ":1"
