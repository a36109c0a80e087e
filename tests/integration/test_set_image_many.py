"""Many targets in one task: by name list and by label selector, waited for together."""

import pytest

from test_set_image_support import APP, create, deployment, images, read, rollout_done, run_module

pytestmark = pytest.mark.integration

COUNT = 10


@pytest.fixture()
def fleet(kubeconfig, apps_v1, namespace):
    names = ["svc-%02d" % i for i in range(COUNT)]
    for name in names:
        create(apps_v1, kubeconfig, namespace, deployment(name, labels={"fleet": "blue"}), wait=False)
    for name in names:
        rollout_done(kubeconfig, namespace, "Deployment", name)
    return names


def test_ten_deployments_by_name_list_then_by_label_selector(tmp_path, kubeconfig, apps_v1, namespace, fleet):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": fleet, "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 240})
    assert result["changed"] is True
    assert [t["name"] for t in result["targets"]] == fleet
    assert all(t["status"] == "complete" and t["changed"] for t in result["targets"])
    for name in fleet:
        assert images(read(apps_v1, namespace, "Deployment", name)) == {"web": APP + ":2"}
        rollout_done(kubeconfig, namespace, "Deployment", name, timeout="1s")

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "label_selectors": ["fleet=blue"], "namespace": namespace, "containers": {"web": APP + ":3"},
        "wait_timeout": 240})
    assert sorted(t["name"] for t in result["targets"]) == fleet
    assert all(t["status"] == "complete" and t["revision"] == "3" for t in result["targets"])
    assert all(t["previous_images"] == {"web": APP + ":2"} for t in result["targets"])
    for name in fleet:
        rollout_done(kubeconfig, namespace, "Deployment", name, timeout="1s")


def test_first_failure_ends_the_wait_for_all(tmp_path, kubeconfig, apps_v1, namespace):
    # "slow" takes a while (minReadySeconds); "stuck" hits its progress deadline first.
    create(apps_v1, kubeconfig, namespace, deployment("slow", replicas=4, minReadySeconds=8,
                                                      strategy={"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    stuck = deployment("stuck", progressDeadlineSeconds=3)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"kubedev.io/no-such-node": "true"}
    create(apps_v1, kubeconfig, namespace, stuck, wait=False)

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": ["slow", "stuck"], "namespace": namespace, "containers": {"*": APP + ":2"}, "wait_timeout": 240})

    assert result["failed"] is True
    slow, stuck_result = result["targets"]
    assert stuck_result["status"] == "failed" and stuck_result["reason"] == "ProgressDeadlineExceeded"
    assert slow["status"] == "in_progress"
    assert slow["message"].startswith("stopped waiting because another target failed; last state: ")
    assert "Deployment %s/stuck rollout failed" % namespace in result["msg"]
