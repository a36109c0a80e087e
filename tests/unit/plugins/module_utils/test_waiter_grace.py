"""The waiter's grace for failures that can heal: a recorded image-pull failure replayed with the
kubelet's message for a registry that is down (connection refused) instead of an unknown host."""

import copy
import json
import pathlib

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter

REPLAY = pathlib.Path(__file__).resolve().parent / "fixtures" / "replay" / "deployment_image_pull.jsonl"
REFUSED = ('failed to pull image "127.0.0.1:5002/app:3": failed to do request: Head '
           '"http://127.0.0.1:5002/v2/app/manifests/3": dial tcp 127.0.0.1:5002: connect: connection refused')


def recording():
    lines = [json.loads(line) for line in REPLAY.read_text().splitlines()]
    return lines[0]["target"], lines[1:]


def registry_down(events):
    """The same events, the pull failing with connection refused; returns (events, the failing pod's last event)."""
    events = copy.deepcopy(events)
    pods = [event["object"] for event in events if event["stream"] == "pods" and event["type"] != "SYNC"]
    for pod in pods:
        for status in pod["status"].get("containerStatuses") or []:
            waiting = status["state"].get("waiting") or {}
            if waiting.get("reason") == "ErrImagePull":
                waiting["message"] = REFUSED
            elif waiting.get("reason") == "ImagePullBackOff":
                waiting["message"] = 'Back-off pulling image "127.0.0.1:5002/app:3": ErrImagePull: ' + REFUSED
    return events, events[-1]


def waiter_for(first, grace):
    target = RolloutTarget("Deployment", first)
    waiter = RolloutWaiter(client=None, targets=[target], timeout=300, transient_grace=grace)
    target.started = 0.0
    return waiter, target


def feed_all(waiter, events):
    for event in events:
        waiter.feed((event["stream"], (0,)), event["type"], event["object"], event.get("t", 0.0))


def test_a_registry_that_is_down_is_waited_through_within_the_grace():
    first, events = recording()
    events, _last = registry_down(events)
    waiter, target = waiter_for(first, grace=30)
    feed_all(waiter, events)
    assert target.outcome is None
    assert "connection refused (may be transient: waiting up to 30s for it to heal)" in target.transient_note
    assert list(target.transient_since.values()) == [1.061]   # the first ErrImagePull, not the back-off after it
    assert waiter._next_grace_end() == 31.061

    waiter.recheck(31.0)
    assert target.outcome is None
    waiter.recheck(31.061)
    assert target.outcome["status"] == "failed"
    assert target.outcome["reason"] == "ImagePullBackOff"
    assert target.outcome["message"].endswith("connection refused (a failure that can be transient, but it did not "
                                              "heal within transient_failure_grace, 30s)")


def test_the_grace_starts_afresh_once_the_container_got_past_the_failure():
    first, events = recording()
    events, last = registry_down(events)
    waiter, target = waiter_for(first, grace=30)
    feed_all(waiter, events)
    pulled = copy.deepcopy(last)
    pulled["object"]["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    waiter.feed(("pods", (0,)), "MODIFIED", pulled["object"], 20.0)
    assert target.transient_since == {} and target.transient_note is None
    waiter.feed(("pods", (0,)), "MODIFIED", last["object"], 25.0)
    waiter.recheck(50.0)
    assert target.outcome is None and list(target.transient_since.values()) == [25.0]


def test_a_grace_of_zero_fails_at_the_first_transient_failure():
    first, events = recording()
    events, _last = registry_down(events)
    waiter, target = waiter_for(first, grace=0)
    feed_all(waiter, events)
    assert target.outcome["reason"] == "ErrImagePull"


def test_permanent_failures_do_not_wait_for_the_grace():
    first, events = recording()   # registry.invalid: no such host
    waiter, target = waiter_for(first, grace=300)
    feed_all(waiter, events)
    assert target.outcome["reason"] == "ErrImagePull"
    assert target.finished == 1.061


def test_nothing_is_timed_while_the_new_revision_is_unknown():
    """A new generation the controller has not observed yet: no pod counts as new, so no grace runs (and
    the waiter has no wake-up time in the past to spin on)."""
    first, events = recording()
    events, _last = registry_down(events)
    waiter, target = waiter_for(first, grace=30)
    feed_all(waiter, events)
    assert target.transient_since
    workload = copy.deepcopy([e for e in events if e["stream"] == "workload"][-1]["object"])
    workload["metadata"]["generation"] += 1
    waiter.feed(("workload", (0,)), "MODIFIED", workload, 40.0)
    assert target.outcome is None
    assert target.transient_since == {} and target.transient_note is None
    assert waiter._next_grace_end() == float("inf")
