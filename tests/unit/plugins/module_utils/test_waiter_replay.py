"""The waiter's decisions over event sequences recorded from the test cluster.

Each fixture starts with the workload right after its image changed, then every watch event of
the workload, its ReplicaSets/ControllerRevisions and its pods, in the order the API server sent
them (pod specs trimmed to the fields that matter, managedFields removed). No connection is
opened: events are fed to the waiter exactly as its watch threads would deliver them.
"""

import json
import pathlib

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter

REPLAY = pathlib.Path(__file__).resolve().parent / "fixtures" / "replay"


def load(name):
    lines = [json.loads(line) for line in (REPLAY / (name + ".jsonl")).read_text().splitlines()]
    return lines[0]["target"], lines[1:]


def kubectl_complete(deployment):
    """kubectl rollout status's rule, restated independently for the comparison."""
    meta, status = deployment["metadata"], deployment.get("status", {})
    if meta["generation"] > status.get("observedGeneration", 0):
        return False
    updated = status.get("updatedReplicas", 0)
    return (updated >= deployment["spec"]["replicas"] and status.get("replicas", 0) <= updated
            and status.get("availableReplicas", 0) >= updated)


def replay(name, kind, crashloop_restarts=2):
    """Feed the recording; returns (target, index of the event that decided, number of events)."""
    first, events = load(name)
    target = RolloutTarget(kind, first)
    waiter = RolloutWaiter(client=None, targets=[target], timeout=300, crashloop_restarts=crashloop_restarts)
    target.started = 0.0
    for index, event in enumerate(events):
        waiter.feed((event["stream"], (0,)), event["type"], event["object"], event.get("t", 0.0))
        if target.outcome is not None:
            return target, index, events
    return target, None, events


def test_deployment_completes_at_the_first_event_kubectl_would_call_complete():
    target, decided, events = replay("deployment_success", "Deployment")
    assert target.outcome["status"] == "complete"
    workload_events = [i for i, e in enumerate(events) if e["stream"] == "workload" and kubectl_complete(e["object"])]
    assert decided == workload_events[0]
    assert target.revision == {"name": "web-5dc9ffbd9f", "revision": "2", "pod_label": ("pod-template-hash", "5dc9ffbd9f")}
    timeline = target.timeline.as_list()
    assert timeline[-1]["updated"] == timeline[-1]["available"] == timeline[-1]["total"] == 3
    assert target.finished == events[decided]["t"]


def test_deployment_image_pull_failure_names_the_new_pod():
    target, decided, events = replay("deployment_image_pull", "Deployment")
    assert target.outcome["status"] == "failed"
    assert target.outcome["reason"] == "ErrImagePull"
    assert target.outcome["pod"].startswith("web-5c7b4f57d6-")
    assert events[decided]["stream"] == "pods"
    assert 'failed to pull image "registry.invalid/app:3"' in target.outcome["message"]


@pytest.mark.parametrize("restarts,reason", [(1, "CrashLoopBackOff"), (2, "CrashLoopBackOff")])
def test_crash_loop_is_decided_by_the_restart_threshold(restarts, reason):
    target, decided, events = replay("deployment_crash_loop", "Deployment", crashloop_restarts=restarts)
    assert target.outcome["reason"] == reason
    pod = events[decided]["object"]
    web = [c for c in pod["status"]["containerStatuses"] if c["name"] == "web"][0]
    assert web["restartCount"] == restarts


def test_crash_loop_below_the_threshold_keeps_waiting():
    target, decided, _events = replay("deployment_crash_loop", "Deployment", crashloop_restarts=10)
    assert decided is None and target.outcome is None
    assert target.progress_message == "1 of 3 replicas updated"
    assert target.revision["revision"] == "5"


def test_daemonset_failure_uses_the_newest_controller_revision():
    target, decided, _events = replay("daemonset_image_pull", "DaemonSet")
    assert target.outcome["status"] == "failed"
    assert target.outcome["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert target.revision["revision"] == "agent-987b595fc"
    assert target.outcome["pod"].startswith("agent-")


def test_shared_streams_route_events_to_the_right_target():
    """Two targets in one namespace share streams: events for one never touch the other."""
    first, events = load("deployment_image_pull")
    other = json.loads(json.dumps(first))
    other["metadata"].update(name="other", uid="00000000-0000-0000-0000-000000000000")
    other["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    web, bystander = RolloutTarget("Deployment", first), RolloutTarget("Deployment", other)
    waiter = RolloutWaiter(client=None, targets=[web, bystander], timeout=300)
    web.started = bystander.started = 0.0
    for event in events:
        waiter.feed((event["stream"], (0, 1)), event["type"], event["object"], event.get("t", 0.0))
    assert web.outcome["reason"] == "ErrImagePull"
    assert bystander.outcome is None
    assert bystander.pods == {} and bystander.revisions == {}


def test_workload_deleted_while_waiting():
    first, _events = load("deployment_success")
    target = RolloutTarget("Deployment", first)
    waiter = RolloutWaiter(client=None, targets=[target], timeout=300)
    target.started = 0.0
    waiter.feed(("workload", (0,)), "DELETED", first, 1.0)
    assert target.outcome["reason"] == "Deleted"
    assert "was deleted while waiting" in target.outcome["message"]
