"""Differential: set_image against `kubectl rollout status` on the same rollouts of the test cluster.

Each scenario asserts that both reach the same verdict - complete, failed, or still waiting at the
timeout (refused for what neither can wait for). Where the module deliberately decides differently or
sooner (fail fast on what cannot heal), the test says so, checks the reason, and checks that kubectl
was still waiting when the module had already returned. Times to verdict are recorded by the race
(KUBEDEV_DIFFERENTIAL_LOG), not asserted.
"""

import uuid

import pytest

from conftest import wait_for
from rollout_race import COMPLETE, FAILED, REFUSED, WAITING, race
from test_set_image_support import APP, create, daemonset, deployment, images, kubectl, read, replicasets, statefulset

pytestmark = pytest.mark.integration

NOWHERE = {"kubedev.io/no-such-node": "true"}
DONE_WITHIN = 120          # kubectl --timeout for rollouts that complete: generous, never reached
WAIT_LIMIT = 15            # both give up after this long where neither can finish


def same_verdict(outcome, verdict):
    assert (outcome.kubectl, outcome.module) == (verdict, verdict), (outcome.kubectl_output, outcome.result)


def module_decided_first(outcome, verdict_kubectl, verdict_module, reason):
    """A deliberate difference: the module fails fast, for `reason`, while kubectl is still waiting."""
    assert outcome.module == verdict_module, outcome.result
    assert outcome.target["reason"] == reason, outcome.result
    assert outcome.kubectl_waiting_when_module_returned is True
    assert outcome.kubectl == verdict_kubectl, outcome.kubectl_output


# --- Deployments -------------------------------------------------------------------------------


def test_paused_deployment(tmp_path, kubeconfig, apps_v1, namespace):
    """Deliberate difference: kubectl waits for a paused Deployment until its timeout (the controller
    does not roll it out, and no progress deadline runs while paused); the module fails at once."""
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    kubectl(kubeconfig, "-n", namespace, "rollout", "pause", "deployment/web")
    outcome = race("deployment-paused", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=60, module_args={"wait_timeout": 60})
    module_decided_first(outcome, WAITING, FAILED, "DeploymentPaused")
    assert "kubectl rollout resume" in outcome.result["msg"]


def test_zero_replicas(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=0))
    outcome = race("deployment-replicas-0", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    assert outcome.target["revision"] == "2"


@pytest.mark.parametrize("surge,unavailable", [(0, 1), (1, 0)], ids=["max-surge-0", "max-unavailable-0"])
def test_rolling_update_bounds(tmp_path, kubeconfig, apps_v1, namespace, surge, unavailable):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}))
    outcome = race("deployment-surge-%d-unavailable-%d" % (surge, unavailable), tmp_path, kubeconfig, apps_v1,
                   namespace, "Deployment", "web", {"web": APP + ":2"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    status = read(apps_v1, namespace, "Deployment", "web")["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 3


def test_progress_deadline_exceeded(tmp_path, kubeconfig, apps_v1, namespace):
    body = deployment("web", progressDeadlineSeconds=10)
    body["spec"]["template"]["spec"]["nodeSelector"] = NOWHERE
    create(apps_v1, kubeconfig, namespace, body, wait=False)
    outcome = race("deployment-progress-deadline", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=DONE_WITHIN, module_args={"wait_timeout": DONE_WITHIN})
    same_verdict(outcome, FAILED)
    assert outcome.target["reason"] == "ProgressDeadlineExceeded"


def test_rollback_to_an_earlier_template_reuses_its_replicaset(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3))
    (first,) = replicasets(apps_v1, namespace, "web")
    kubectl(kubeconfig, "-n", namespace, "set", "image", "deployment/web", "web=" + APP + ":2")
    kubectl(kubeconfig, "-n", namespace, "rollout", "status", "deployment/web", "--timeout", "90s")
    outcome = race("deployment-rollback-reuses-replicaset", tmp_path, kubeconfig, apps_v1, namespace, "Deployment",
                   "web", {"web": APP + ":1"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    assert outcome.target["new_replicaset"] == first["metadata"]["name"]
    assert outcome.target["revision"] == "3"
    assert len(replicasets(apps_v1, namespace, "web")) == 2


def quota(core_v1, namespace, pods):
    core_v1.create_namespaced_resource_quota(namespace, {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods"}, "spec": {"hard": {"pods": str(pods)}}})
    wait_for("the quota to count the pods", lambda: (core_v1.read_namespaced_resource_quota("pods", namespace)
                                                      .status.used or {}).get("pods") is not None, timeout=60)


def failed_creates(core_v1, namespace):
    events = core_v1.list_namespaced_event(namespace, field_selector="reason=FailedCreate").items
    return [e.message for e in events if "exceeded quota" in (e.message or "")]


def test_quota_refusing_pods_for_a_while_issue_11(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    """Issue 11, case 3: the ReplicaSet controller's pod creations are refused by the quota until the
    old pods are gone; it retries, and the rollout completes. The module must not fail on the
    transient ReplicaFailure."""
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=3, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}))
    quota(core_v1, namespace, 3)
    outcome = race("deployment-quota-transient", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=DONE_WITHIN, module_args={"wait_timeout": DONE_WITHIN})
    same_verdict(outcome, COMPLETE)
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}
    # the scenario is the one of the issue only if the quota did refuse a pod on the way
    assert failed_creates(core_v1, namespace), "the quota never refused a pod: the scenario did not happen"


def test_quota_that_never_admits_the_surge_pod(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    """Both wait: the controller keeps retrying; only the progress deadline (10 minutes) would end it."""
    create(apps_v1, kubeconfig, namespace, deployment("web", replicas=2))
    quota(core_v1, namespace, 2)
    outcome = race("deployment-quota-never", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=WAIT_LIMIT, module_args={"wait_timeout": WAIT_LIMIT})
    same_verdict(outcome, WAITING)
    assert "exceeded quota" in outcome.target["message"]


def test_unschedulable_pods(tmp_path, kubeconfig, apps_v1, namespace):
    """Both wait: a node could join; the module's timeout says why nothing runs."""
    body = deployment("web")
    body["spec"]["template"]["spec"]["nodeSelector"] = NOWHERE
    create(apps_v1, kubeconfig, namespace, body, wait=False)
    outcome = race("deployment-unschedulable", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": APP + ":2"}, kubectl_timeout=WAIT_LIMIT, module_args={"wait_timeout": WAIT_LIMIT})
    same_verdict(outcome, WAITING)
    assert "not scheduled" in outcome.target["message"]


def test_failing_init_container(tmp_path, kubeconfig, apps_v1, namespace):
    """Same verdict, the module first: kubectl fails at the progress deadline, the module at the init
    container's crash loop."""
    create(apps_v1, kubeconfig, namespace, deployment(
        "web", progressDeadlineSeconds=60, init_containers=[{"name": "migrate", "image": APP + "-migrate:1"}]))
    outcome = race("deployment-init-container-crash", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"migrate": APP + "-migrate:2-crash"}, kubectl_timeout=DONE_WITHIN,
                   module_args={"crashloop_restarts": 1, "wait_timeout": DONE_WITHIN})
    module_decided_first(outcome, FAILED, FAILED, "CrashLoopBackOff")
    assert "init container migrate" in outcome.target["message"]


def test_image_that_cannot_be_pulled(tmp_path, kubeconfig, apps_v1, namespace):
    """Same verdict, the module first: an unknown registry host cannot heal."""
    create(apps_v1, kubeconfig, namespace, deployment("web", progressDeadlineSeconds=60))
    outcome = race("deployment-unknown-registry-host", tmp_path, kubeconfig, apps_v1, namespace, "Deployment",
                   "web", {"web": "registry.invalid/app:2"}, kubectl_timeout=DONE_WITHIN,
                   module_args={"wait_timeout": DONE_WITHIN})
    assert outcome.target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    module_decided_first(outcome, FAILED, FAILED, outcome.target["reason"])
    assert "no such host" in outcome.target["message"]


# --- StatefulSets ------------------------------------------------------------------------------


def test_statefulset_partition(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, statefulset(
        "db", replicas=3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
    outcome = race("statefulset-partition", tmp_path, kubeconfig, apps_v1, namespace, "StatefulSet", "db",
                   {"db": APP + ":2"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    assert read(apps_v1, namespace, "StatefulSet", "db")["status"]["updatedReplicas"] == 1


@pytest.mark.parametrize("policy", ["OrderedReady", "Parallel"])
def test_statefulset_pod_management(tmp_path, kubeconfig, apps_v1, namespace, policy):
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=3, podManagementPolicy=policy))
    outcome = race("statefulset-" + policy.lower(), tmp_path, kubeconfig, apps_v1, namespace, "StatefulSet", "db",
                   {"db": APP + ":2"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    live = read(apps_v1, namespace, "StatefulSet", "db")
    assert outcome.target["revision"] == live["status"]["updateRevision"]
    assert live["status"]["updatedReplicas"] == 3


def test_statefulset_on_delete_is_refused_by_both(tmp_path, kubeconfig, apps_v1, namespace):
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=1, updateStrategy={"type": "OnDelete"}),
           wait=False)
    before = read(apps_v1, namespace, "StatefulSet", "db")
    outcome = race("statefulset-on-delete", tmp_path, kubeconfig, apps_v1, namespace, "StatefulSet", "db",
                   {"db": APP + ":2"}, kubectl_timeout=WAIT_LIMIT)
    same_verdict(outcome, REFUSED)
    assert "uses updateStrategy OnDelete" in outcome.result["msg"]
    after = read(apps_v1, namespace, "StatefulSet", "db")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert images(after) == {"db": APP + ":1"}


def test_statefulset_crash_loop(tmp_path, kubeconfig, apps_v1, namespace):
    """Deliberate difference: StatefulSets have no progress deadline, so kubectl waits for a crash-looping
    pod until its timeout; the module fails at the crash loop."""
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=2))
    outcome = race("statefulset-crash-loop", tmp_path, kubeconfig, apps_v1, namespace, "StatefulSet", "db",
                   {"db": APP + ":2-crash"}, kubectl_timeout=90,
                   module_args={"crashloop_restarts": 1, "wait_timeout": 90})
    module_decided_first(outcome, WAITING, FAILED, "CrashLoopBackOff")


# --- DaemonSets --------------------------------------------------------------------------------

JOINER_TAINT = "kubedev.io/differential-joiner"


def joining_node(core_v1, name):
    """A kwok node that only workloads tolerating JOINER_TAINT land on (nothing else in the cluster notices)."""
    core_v1.create_node({
        "metadata": {"name": name, "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                              "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"taints": [{"key": JOINER_TAINT, "value": "true", "effect": "NoSchedule"}]}})


@pytest.fixture()
def joiner(core_v1):
    name = "kwok-joiner-" + uuid.uuid4().hex[:6]
    yield name
    core_v1.delete_node(name)


def test_daemonset_node_joins_during_the_rollout(tmp_path, kubeconfig, apps_v1, core_v1, namespace, joiner):
    body = daemonset("agent")
    body["spec"]["template"]["spec"]["tolerations"] = [{"key": JOINER_TAINT, "operator": "Exists"}]
    body["spec"]["minReadySeconds"] = 3   # a rollout long enough for the node to join in the middle
    create(apps_v1, kubeconfig, namespace, body)
    desired_before = read(apps_v1, namespace, "DaemonSet", "agent")["status"]["desiredNumberScheduled"]
    outcome = race("daemonset-node-joins", tmp_path, kubeconfig, apps_v1, namespace, "DaemonSet", "agent",
                   {"agent": APP + ":2"}, kubectl_timeout=DONE_WITHIN, module_args={"wait_timeout": DONE_WITHIN},
                   after_patch=lambda: joining_node(core_v1, joiner))
    same_verdict(outcome, COMPLETE)
    assert outcome.target["timeline"][-1]["total"] == desired_before + 1   # the verdict counted the new node
    status = read(apps_v1, namespace, "DaemonSet", "agent")["status"]
    assert status["desiredNumberScheduled"] == desired_before + 1
    assert status["updatedNumberScheduled"] == status["numberAvailable"] == status["desiredNumberScheduled"]
    pods = core_v1.list_namespaced_pod(namespace, field_selector="spec.nodeName=" + joiner).items
    assert [p.spec.containers[0].image for p in pods] == [APP + ":2"]


def test_daemonset_with_no_node_to_run_on(tmp_path, kubeconfig, apps_v1, namespace):
    body = daemonset("agent")
    body["spec"]["template"]["spec"]["nodeSelector"] = NOWHERE
    create(apps_v1, kubeconfig, namespace, body)
    outcome = race("daemonset-zero-desired", tmp_path, kubeconfig, apps_v1, namespace, "DaemonSet", "agent",
                   {"agent": APP + ":2"}, kubectl_timeout=DONE_WITHIN)
    same_verdict(outcome, COMPLETE)
    assert read(apps_v1, namespace, "DaemonSet", "agent")["status"]["desiredNumberScheduled"] == 0
