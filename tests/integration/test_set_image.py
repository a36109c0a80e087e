"""kubedev.devloop.set_image against the real test cluster: the successful paths."""

import pytest

from test_set_image_support import (
    APP,
    create,
    daemonset,
    deployment,
    images,
    kubectl,
    read,
    replicasets,
    rollout_done,
    run_module,
    statefulset,
)

pytestmark = pytest.mark.integration


def test_new_image_rolls_out_and_reports_every_field(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "change_cause": "release 2", "wait_timeout": 120,
    })

    assert result["changed"] is True
    assert result["rolled_back"] is False
    (target,) = result["targets"]
    assert target["kind"] == "Deployment" and target["name"] == "web" and target["namespace"] == namespace
    assert target["previous_images"] == {"web": APP + ":1"}
    assert target["images"] == {"web": APP + ":2"}
    assert target["status"] == "complete"
    assert target["reason"] is None
    assert target["patch_attempts"] == 1
    assert target["duration"] > 0

    # What the cluster says: the new ReplicaSet is the one reported, carries the image and the cause.
    live = read(apps_v1, namespace, "Deployment", "web")
    assert images(live) == {"web": APP + ":2"}
    assert live["metadata"]["annotations"]["kubernetes.io/change-cause"] == "release 2"
    new_rs = [rs for rs in replicasets(apps_v1, namespace, "web")
              if rs["spec"]["template"]["spec"]["containers"][0]["image"] == APP + ":2"]
    assert [rs["metadata"]["name"] for rs in new_rs] == [target["new_replicaset"]]
    assert new_rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == target["revision"] == "2"
    assert new_rs[0]["status"].get("availableReplicas") == 3
    history = kubectl(kubeconfig, "-n", namespace, "rollout", "history", "deployment/web").stdout
    assert "release 2" in history

    # Timeline: starts at the old state, ends complete, deduplicated.
    timeline = target["timeline"]
    assert timeline[0]["t"] == 0.0
    assert timeline[-1] == dict(timeline[-1], updated=3, available=3, total=3)
    assert all(a != b for a, b in zip(timeline, timeline[1:]))
    assert 2 <= len(timeline) <= 20


def test_second_run_changes_nothing_and_still_confirms_the_rollout(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", image=APP + ":2"))
    before = read(apps_v1, namespace, "Deployment", "web")
    sets_before = replicasets(apps_v1, namespace, "web")

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}})

    assert result["changed"] is False
    (target,) = result["targets"]
    assert target["changed"] is False
    assert target["status"] == "complete"
    assert target["revision"] == "1"
    assert target["previous_images"] == target["images"] == {"web": APP + ":2"}
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert len(replicasets(apps_v1, namespace, "web")) == len(sets_before) == 1


def test_check_mode_validates_on_the_server_and_changes_nothing(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    # PodSecurity in warn mode evaluates the pod template of a workload update: the dry run must reach it.
    core_v1.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/warn": "restricted"}}})
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    before = read(apps_v1, namespace, "Deployment", "web")

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}}, flags=("--check", "--diff"))

    assert result["changed"] is True
    (target,) = result["targets"]
    assert target["status"] == "skipped"
    assert result["diff"] == {"before": {"Deployment/%s/web" % namespace: {"web": APP + ":1"}},
                              "after": {"Deployment/%s/web" % namespace: {"web": APP + ":2"}}}
    assert any("would violate PodSecurity" in w for w in result.get("warnings", [])), result.get("warnings")
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert images(after) == {"web": APP + ":1"}


def test_star_sets_containers_and_init_containers(tmp_path, kubeconfig, apps_v1, namespace):
    body = deployment("multi", containers=[{"name": "web", "image": APP + ":1"}, {"name": "side", "image": APP + "-side:1"}],
                      init_containers=[{"name": "migrate", "image": APP + "-migrate:1"}])
    create(apps_v1, kubeconfig, namespace, body)

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": ["multi"], "namespace": namespace, "containers": {"*": APP + ":7", "migrate": APP + "-migrate:7"}})

    (target,) = result["targets"]
    assert target["status"] == "complete"
    assert target["previous_images"] == {"web": APP + ":1", "side": APP + "-side:1", "migrate": APP + "-migrate:1"}
    assert images(read(apps_v1, namespace, "Deployment", "multi")) == {
        "migrate": APP + "-migrate:7", "web": APP + ":7", "side": APP + ":7"}


def test_init_container_by_name(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment(
        "web", init_containers=[{"name": "migrate", "image": APP + "-migrate:1"}]))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"migrate": APP + "-migrate:2"}})
    assert result["targets"][0]["status"] == "complete"
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"migrate": APP + "-migrate:2", "web": APP + ":1"}


def test_statefulset_rolls_out(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=3))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "kind": "StatefulSet", "name": "db", "namespace": namespace, "containers": {"db": APP + ":2"}})

    (target,) = result["targets"]
    assert target["status"] == "complete"
    live = read(apps_v1, namespace, "StatefulSet", "db")
    assert target["revision"] == live["status"]["updateRevision"]
    assert live["status"]["updatedReplicas"] == 3
    assert target["new_replicaset"] is None
    rollout_done(kubeconfig, namespace, "StatefulSet", "db", timeout="1s")


def test_daemonset_rolls_out(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, daemonset("agent"))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "kind": "DaemonSet", "name": "agent", "namespace": namespace, "containers": {"agent": APP + ":2"}})

    (target,) = result["targets"]
    assert target["status"] == "complete"
    live = read(apps_v1, namespace, "DaemonSet", "agent")
    assert live["status"]["updatedNumberScheduled"] == live["status"]["desiredNumberScheduled"] >= 1
    assert target["revision"].startswith("agent-")
    revisions = kubectl(kubeconfig, "-n", namespace, "get", "controllerrevisions", "-o",
                        "jsonpath={range .items[*]}{.metadata.name}={.revision}{\"\\n\"}{end}").stdout.split()
    newest = max(revisions, key=lambda line: int(line.split("=")[1])).split("=")[0]
    assert target["revision"] == newest
    rollout_done(kubeconfig, namespace, "DaemonSet", "agent", timeout="1s")


def test_on_delete_statefulset_is_refused_before_any_write(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=1, updateStrategy={"type": "OnDelete"}), wait=False)
    before = read(apps_v1, namespace, "StatefulSet", "db")
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "kind": "StatefulSet", "name": "db", "namespace": namespace, "containers": {"db": APP + ":2"}})
    assert result["failed"] is True and result["changed"] is False
    assert "StatefulSet %s/db uses updateStrategy OnDelete" % namespace in result["msg"]
    after = read(apps_v1, namespace, "StatefulSet", "db")   # status may move on; the spec must not
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert images(after) == {"db": APP + ":1"}


def test_without_wait_returns_after_the_patch(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait": False})
    assert result["changed"] is True
    assert result["targets"][0]["status"] == "skipped"
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}
    rollout_done(kubeconfig, namespace, "Deployment", "web")
