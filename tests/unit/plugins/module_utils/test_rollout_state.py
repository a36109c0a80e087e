"""Rollout state of recorded Deployment/StatefulSet/DaemonSet objects, by kubectl's rules."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    condition_fingerprint,
    daemonset_update_revision,
    deployment_new_replicaset,
    find_condition,
    label_selector_string,
    selector_matches,
    replica_counts,
    statefulset_update_revision,
    update_strategy_error,
    workload_progress,
)


@pytest.mark.parametrize("state,message", [
    ("spec_change_not_observed", "waiting for the deployment controller to observe generation 2"),
    ("updating_new_replicas", "0 of 3 replicas updated"),
    ("old_replicas_pending_termination", "1 old replicas pending termination"),
])
def test_deployment_in_progress(recorded, state, message):
    progress = workload_progress("Deployment", recorded("deployment_rollout", state))
    assert progress == {"complete": False, "message": message, "failure": None}


def test_deployment_complete(recorded):
    progress = workload_progress("Deployment", recorded("deployment_rollout", "complete"))
    assert progress["complete"] is True
    assert progress["failure"] is None
    assert progress["message"] == "3 of 3 updated replicas available"


def test_deployment_waits_for_updated_replicas_to_become_available(recorded):
    # The recorded complete state, one replica short of available (as between "ready" and minReadySeconds).
    deployment = recorded("deployment_rollout", "complete")
    deployment["status"]["availableReplicas"] = 2
    progress = workload_progress("Deployment", deployment)
    assert progress["complete"] is False
    assert progress["message"] == "2 of 3 updated replicas available"


def test_deployment_with_zero_replicas_is_complete_once_observed(recorded):
    deployment = recorded("deployment_rollout", "complete")
    deployment["spec"]["replicas"] = 0
    deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"]}
    assert workload_progress("Deployment", deployment)["complete"] is True


def test_progress_deadline_exceeded_is_a_failure(recorded):
    deployment = recorded("deployment_failures", "progress_deadline_exceeded")
    progress = workload_progress("Deployment", deployment)
    assert progress["complete"] is False
    assert progress["failure"]["reason"] == "ProgressDeadlineExceeded"
    assert "has timed out progressing" in progress["failure"]["message"]


def test_stale_progress_deadline_from_before_our_patch_is_ignored(recorded):
    deployment = recorded("deployment_failures", "progress_deadline_exceeded")
    stale = [condition_fingerprint(find_condition(deployment, "Progressing"))]
    progress = workload_progress("Deployment", deployment, stale_conditions=stale)
    assert progress["failure"] is None
    assert progress["message"] == "1 of 2 replicas updated"


def test_progress_deadline_counts_only_once_the_generation_is_observed(recorded):
    deployment = recorded("deployment_failures", "progress_deadline_exceeded")
    deployment["metadata"]["generation"] += 1
    progress = workload_progress("Deployment", deployment)
    assert progress["failure"] is None
    assert "observe generation" in progress["message"]


def test_quota_replica_failure_keeps_waiting_as_kubectl_does(recorded):
    """The controller retries refused pod creations; an exceeded quota frees up as old pods go."""
    progress = workload_progress("Deployment", recorded("deployment_failures", "replica_failure"))
    assert progress["failure"] is None and progress["complete"] is False
    assert "ReplicaFailure (retried by the controller): FailedCreate: " in progress["message"]
    assert "exceeded quota" in progress["message"]


def test_pod_security_replica_failure_fails_as_no_retry_can_pass(recorded):
    deployment = recorded("deployment_failures", "replica_failure")
    condition = find_condition(deployment, "ReplicaFailure")
    condition["message"] = ('pods "web-6d8f-x" is forbidden: violates PodSecurity "restricted:latest": '
                            'allowPrivilegeEscalation != false')
    progress = workload_progress("Deployment", deployment)
    assert progress["failure"]["reason"] == "ReplicaFailure"
    assert progress["failure"]["message"].startswith('FailedCreate: pods "web-6d8f-x" is forbidden: violates PodSecurity')
    assert "pod-security.kubernetes.io/enforce" in progress["failure"]["message"]
    assert workload_progress("Deployment", deployment, [condition_fingerprint(condition)])["failure"] is None


def test_a_complete_rollout_is_complete_whatever_replica_failure_says(recorded):
    deployment = recorded("deployment_failures", "replica_failure")
    find_condition(deployment, "ReplicaFailure")["message"] = "violates PodSecurity"
    status = deployment["status"]
    status["updatedReplicas"] = status["replicas"] = status["availableReplicas"] = deployment["spec"]["replicas"]
    assert workload_progress("Deployment", deployment)["complete"] is True


def test_paused_deployment_cannot_finish(recorded):
    progress = workload_progress("Deployment", recorded("deployment_rollout", "paused"))
    assert progress["failure"]["reason"] == "DeploymentPaused"
    assert "kubectl rollout resume" in progress["failure"]["message"]


def test_paused_but_complete_deployment_is_complete(recorded):
    deployment = recorded("deployment_rollout", "complete")
    deployment["spec"]["paused"] = True
    assert workload_progress("Deployment", deployment)["complete"] is True


@pytest.mark.parametrize("state,complete,message", [
    ("spec_change_not_observed", False, "waiting for the statefulset controller to observe generation 1"),
    ("pods_not_ready", False, "2 of 3 pods ready (0 updated)"),
    ("updating", False, "0 of 3 pods updated"),
    ("complete", True, "3 of 3 pods updated and ready"),
    ("partitioned_updating", False, "0 of 1 pods updated"),
    ("partitioned_complete", True, "1 of 1 pods updated and ready"),
])
def test_statefulset_progress(recorded, state, complete, message):
    progress = workload_progress("StatefulSet", recorded("statefulset_rollout", state))
    assert progress == {"complete": complete, "message": message, "failure": None}


def test_statefulset_without_rolling_update_block_compares_revisions(recorded):
    sts = recorded("statefulset_rollout", "updating")
    del sts["spec"]["updateStrategy"]["rollingUpdate"]
    sts["status"]["updatedReplicas"] = 3
    progress = workload_progress("StatefulSet", sts)
    assert progress["complete"] is False
    assert "revision db-546885c858" in progress["message"]
    sts["status"]["currentRevision"] = sts["status"]["updateRevision"]
    assert workload_progress("StatefulSet", sts)["complete"] is True


@pytest.mark.parametrize("state,complete,message", [
    ("spec_change_not_observed", False, "waiting for the daemonset controller to observe generation 2"),
    ("updating", False, "0 of 2 pods updated"),
    ("updated_not_available", False, "1 of 2 updated pods available"),
    ("complete", True, "2 of 2 updated pods available"),
    ("image_pull_failing", False, "1 of 2 pods updated"),
])
def test_daemonset_progress(recorded, state, complete, message):
    progress = workload_progress("DaemonSet", recorded("daemonset_rollout", state))
    assert progress == {"complete": complete, "message": message, "failure": None}


def test_on_delete_strategy_is_refused_with_a_reason(recorded):
    message = update_strategy_error("StatefulSet", recorded("statefulset_rollout", "on_delete"))
    assert "StatefulSet cap-sts/ondelete uses updateStrategy OnDelete" in message
    assert "RollingUpdate" in message
    assert update_strategy_error("StatefulSet", recorded("statefulset_rollout", "complete")) is None
    assert update_strategy_error("Deployment", recorded("deployment_rollout", "complete")) is None


def test_replica_counts_for_the_timeline(recorded):
    assert replica_counts("Deployment", recorded("deployment_rollout", "old_replicas_pending_termination")) == {
        "updated": 3, "ready": 3, "available": 3, "total": 4}
    assert replica_counts("DaemonSet", recorded("daemonset_rollout", "updated_not_available")) == {
        "updated": 2, "ready": 1, "available": 1, "total": 2}


def test_new_replicaset_is_the_one_with_the_deployments_revision(recorded):
    deployment = recorded("deployment_rollout", "complete")
    found = deployment_new_replicaset(deployment, recorded("deployment_rollout", "replicasets_when_complete"))
    assert found == {"name": "web-5dc9ffbd9f", "revision": "2", "pod_label": ("pod-template-hash", "5dc9ffbd9f")}


def test_no_new_replicaset_before_the_generation_is_observed(recorded):
    deployment = recorded("deployment_rollout", "spec_change_not_observed")
    assert deployment_new_replicaset(deployment, recorded("deployment_rollout", "replicasets_when_complete")) is None


def test_replicasets_of_another_owner_are_ignored(recorded):
    deployment = recorded("deployment_rollout", "complete")
    replicasets = recorded("deployment_rollout", "replicasets_when_complete")
    for rs in replicasets:
        rs["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert deployment_new_replicaset(deployment, replicasets) is None


def test_statefulset_pods_of_the_update_revision_carry_its_full_name(recorded):
    found = statefulset_update_revision(recorded("statefulset_rollout", "partitioned_complete"))
    assert found == {"name": None, "revision": "db-bb887bc47", "pod_label": ("controller-revision-hash", "db-bb887bc47")}
    assert statefulset_update_revision(recorded("statefulset_rollout", "spec_change_not_observed")) is None


def test_daemonset_update_revision_is_the_controller_revision_holding_its_template(recorded):
    ds = recorded("daemonset_rollout", "image_pull_failing")
    found = daemonset_update_revision(ds, recorded("daemonset_rollout", "controllerrevisions"))
    assert found == {"name": None, "revision": "agent-987b595fc", "pod_label": ("controller-revision-hash", "987b595fc")}
    pods = recorded("daemonset_rollout", "pods_at_end")
    labels = sorted(p["metadata"]["labels"]["controller-revision-hash"] for p in pods)
    assert "987b595fc" in labels  # what the pods of that revision really carry


def test_daemonset_revision_is_unknown_until_the_one_for_its_template_arrives(recorded):
    """The DaemonSet's event for a new template can come before its new ControllerRevision: the newest one
    seen then is the previous template's, and its pods must not count as the new revision's."""
    ds = recorded("daemonset_rollout", "image_pull_failing")
    revisions = recorded("daemonset_rollout", "controllerrevisions")
    older = [cr for cr in revisions if cr["metadata"]["name"] != "agent-987b595fc"]
    assert older and max(cr["revision"] for cr in older) > 0
    assert daemonset_update_revision(ds, older) is None
    # a higher revision number with another template does not win either
    bumped = [dict(cr, revision=99) for cr in older]
    assert daemonset_update_revision(ds, bumped + [cr for cr in revisions if cr not in older])["revision"] == \
        "agent-987b595fc"


def test_label_selector_string_covers_match_labels_and_expressions():
    selector = {
        "matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["dev", "qa"]},
            {"key": "legacy", "operator": "NotIn", "values": ["true"]},
            {"key": "team", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector_string(selector) == "app=web,tier=front,env in (dev,qa),legacy notin (true),team,!canary"
    with pytest.raises(ValueError):
        label_selector_string({"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]})


@pytest.mark.parametrize("labels,expected", [
    ({"app": "web", "tier": "front", "env": "dev", "team": "a"}, True),
    ({"app": "web", "tier": "front", "env": "prod", "team": "a"}, False),      # In
    ({"app": "web", "tier": "front", "env": "dev"}, False),                    # Exists
    ({"app": "web", "tier": "front", "env": "qa", "team": "a", "legacy": "true"}, False),  # NotIn
    ({"app": "web", "tier": "front", "env": "qa", "team": "a", "canary": "1"}, False),    # DoesNotExist
    ({"app": "api", "tier": "front", "env": "dev", "team": "a"}, False),      # matchLabels
    ({}, False),
])
def test_selector_matches_like_the_api_server(labels, expected):
    selector = {
        "matchLabels": {"app": "web", "tier": "front"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["dev", "qa"]},
            {"key": "legacy", "operator": "NotIn", "values": ["true"]},
            {"key": "team", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    assert selector_matches(selector, labels) is expected


def test_selector_of_recorded_deployment_matches_its_pods(recorded):
    selector = recorded("deployment_rollout", "complete")["spec"]["selector"]
    assert selector_matches(selector, recorded("pods", "running_ready")["metadata"]["labels"])
    assert not selector_matches(selector, recorded("pods", "unschedulable")["metadata"]["labels"])
