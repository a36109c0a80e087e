"""set_image at 1,000 replicas on kwok (issue 12): the rollout completes as kubectl sees it, and a new
revision that cannot pull fails the task on its first pods - not at the progress deadline - and is rolled
back. How fast and how cheaply is scripts/bench_scale.py's business; these tests assert behaviour only."""

import json
import os
import subprocess
import uuid

import pytest

from test_set_image_support import APP, ROOT, images, kubectl, read, rollout_done, run_module

pytestmark = pytest.mark.integration

REPLICAS = 1000
PODS_PER_NODE = 110            # kwok-stages.yaml's node capacity
# The default strategy surges by 25 %: room for 1,250 pods, and some for the other tests' pods.
NODES = (REPLICAS * 5 // 4) // PODS_PER_NODE + 3


def kwok_nodes(core_v1):
    return len(core_v1.list_node(label_selector="type=kwok").items)


def set_kwok_nodes(count):
    proc = subprocess.run([str(ROOT / "scripts" / "testenv"), "kwok-nodes", str(count)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def kwok_room(core_v1):
    """Enough kwok nodes for 1,250 pods: scripts/testenv adds them and takes them away after."""
    before = kwok_nodes(core_v1)
    if before >= NODES:
        yield
        return
    if os.environ.get("KUBEDEV_TEST_KUBECONFIG"):
        pytest.skip("needs %d kwok nodes for %d replicas; the cluster of KUBEDEV_TEST_KUBECONFIG has %d" % (
            NODES, REPLICAS, before))
    set_kwok_nodes(NODES)
    yield
    set_kwok_nodes(before)


@pytest.fixture(scope="module")
def big(kubeconfig, core_v1, apps_v1, kwok_room):
    """A Deployment of 1,000 replicas, rolled out; yields (namespace, name)."""
    namespace = "t-scale-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace({"metadata": {"name": namespace, "labels": {"kubedev-test": "true"}}})
    apps_v1.create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "big"}},
                 "template": {"metadata": {"labels": {"app": "big"}},
                              "spec": {"terminationGracePeriodSeconds": 0,
                                       "containers": [{"name": "web", "image": APP + ":1"}]}}}})
    rollout_done(kubeconfig, namespace, "Deployment", "big", timeout="600s")
    yield namespace, "big"
    core_v1.delete_namespace(namespace, propagation_policy="Background")
    # Its pods go before the nodes they are bound to.
    kubectl(kubeconfig, "wait", "--for=delete", "namespace/" + namespace, "--timeout=600s", check=False, timeout=660)


def pods_of(core_v1, namespace, selector):
    return json.loads(core_v1.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False).data)["items"]


def test_an_unpullable_image_fails_on_its_first_pods_and_is_rolled_back(tmp_path, kubeconfig, apps_v1, core_v1, big):
    namespace, name = big
    before = images(read(apps_v1, namespace, "Deployment", name))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": name, "namespace": namespace, "containers": {"web": "registry.kubedev.invalid/app:2"},
        "rollback_on_failure": True, "wait_timeout": 600})

    assert result["failed"] is True
    (target,) = result["targets"]
    # A pod's own failure decided it, long before the 600 s progress deadline would have.
    assert target["status"] == "failed" and target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert target["pod"].startswith(target["new_replicaset"] + "-")
    assert "registry.kubedev.invalid/app:2" in target["message"]
    assert result["rolled_back"] is True and target["rollback"]["status"] == "complete"
    assert images(read(apps_v1, namespace, "Deployment", name)) == before
    rollout_done(kubeconfig, namespace, "Deployment", name, timeout="1s")


def test_a_thousand_replicas_roll_out_completely(tmp_path, kubeconfig, apps_v1, core_v1, big):
    namespace, name = big
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": name, "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 600})

    assert result["changed"] is True
    (target,) = result["targets"]
    assert target["status"] == "complete"
    assert target["message"] == "%d of %d updated replicas available" % (REPLICAS, REPLICAS)
    assert target["timeline"][-1] == dict(target["timeline"][-1], updated=REPLICAS, available=REPLICAS, total=REPLICAS)
    # kubectl agrees at once, and every pod now runs the new image.
    rollout_done(kubeconfig, namespace, "Deployment", name, timeout="1s")
    deployment = read(apps_v1, namespace, "Deployment", name)
    assert images(deployment) == {"web": APP + ":2"}
    pods = pods_of(core_v1, namespace, "app=big")
    assert len(pods) == REPLICAS
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {APP + ":2"}
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {target["new_replicaset"].rsplit("-", 1)[1]}
