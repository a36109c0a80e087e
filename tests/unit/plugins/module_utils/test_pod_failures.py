"""Which pods of a new revision have failed for good, and how it is said."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import (
    PodSummary,
    pod_failure,
    pod_pending_hint,
)


@pytest.mark.parametrize("state,reason,detail", [
    ("err_image_pull", "ErrImagePull", 'failed to pull image "registry.invalid/app:3"'),
    ("image_pull_backoff", "ImagePullBackOff", 'Back-off pulling image "registry.invalid/app:3"'),
])
def test_image_pull_failures_are_fatal_at_once(recorded, state, reason, detail):
    pod = recorded("pods", state)
    failure = pod_failure(pod)
    assert failure["reason"] == reason
    assert failure["pod"] == "web-5c7b4f57d6-dbblz"
    assert failure["container"] == "web"
    assert failure["message"].startswith("pod web-5c7b4f57d6-dbblz container web: %s: " % reason)
    assert detail in failure["message"]


def test_crash_loop_fails_after_the_configured_restarts(recorded):
    once = recorded("pods", "crashloop_restarts_1")
    twice = recorded("pods", "crashloop_restarts_2")
    assert pod_failure(once, crashloop_restarts=2) is None
    failure = pod_failure(twice, crashloop_restarts=2)
    assert failure["reason"] == "CrashLoopBackOff"
    assert failure["message"] == ("pod web-67c6df6847-h682b container web: CrashLoopBackOff: restarted 2 times, "
                                  "last exit code 1 (Error)")
    assert pod_failure(once, crashloop_restarts=0)["reason"] == "CrashLoopBackOff"
    assert pod_failure(twice, crashloop_restarts=5) is None


def test_init_container_crash_loop_is_named_as_init_container(recorded):
    failure = pod_failure(recorded("pods", "init_crashloop"))
    assert failure["reason"] == "CrashLoopBackOff"
    assert failure["container"] == "migrate"
    assert failure["message"].startswith("pod initcrash init container migrate: CrashLoopBackOff: restarted ")


@pytest.mark.parametrize("restart_policy", ["Always", "Never"])
def test_an_error_exit_alone_is_no_failure(recorded, restart_policy):
    # Workload templates only allow Always: the container restarts, and a repeated crash becomes
    # CrashLoopBackOff, which fails the rollout. The exit itself decides nothing, whatever the pod says.
    pod = recorded("pods", "never_restart_failed")
    pod["spec"]["restartPolicy"] = restart_policy
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert pod_failure(pod) is None


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "CreateContainerError", "InvalidImageName"])
def test_other_fatal_waiting_reasons(recorded, reason):
    # kwok does not simulate these; the recorded pull failure with the kubelet's reason swapped in.
    pod = recorded("pods", "image_pull_backoff")
    pod["status"]["containerStatuses"][0]["state"]["waiting"] = {"reason": reason, "message": "configmap \"x\" not found"}
    failure = pod_failure(pod)
    assert failure["reason"] == reason
    assert failure["message"].endswith('%s: configmap "x" not found' % reason)


@pytest.mark.parametrize("state", ["running_ready", "container_creating", "unschedulable", "terminating"])
def test_healthy_or_pending_pods_are_not_failures(recorded, state):
    assert pod_failure(recorded("pods", state)) is None


def test_pending_hint_explains_unschedulable_pods(recorded):
    hint = pod_pending_hint(recorded("pods", "unschedulable"))
    assert hint.startswith("pod slow-d7f446fc4-h8vfm not scheduled: 0/")
    assert "node(s) didn't match Pod's node affinity/selector" in hint
    assert pod_pending_hint(recorded("pods", "container_creating")).endswith("container web: ContainerCreating")
    assert pod_pending_hint(recorded("pods", "running_ready")) is None


def test_only_pods_of_the_new_revision_are_considered(recorded):
    old_ready = PodSummary(recorded("pods", "running_ready"))             # pod-template-hash 76459ccf58
    new_failing = PodSummary(recorded("pods", "image_pull_backoff"))      # pod-template-hash 5c7b4f57d6
    pods = [old_ready, new_failing]
    assert [p.name for p in pods if p.has_label(("pod-template-hash", "5c7b4f57d6"))] == ["web-5c7b4f57d6-dbblz"]
    assert [p for p in pods if p.has_label(("pod-template-hash", "nothing"))] == []


def test_first_failure_skips_pods_being_deleted(recorded):
    failing = recorded("pods", "image_pull_backoff")
    assert [f["reason"] for f in PodSummary(failing).failures] == ["ImagePullBackOff"]
    failing["metadata"]["deletionTimestamp"] = "2026-11-25T20:11:30Z"
    assert PodSummary(failing).failures == []
    assert PodSummary(recorded("pods", "running_ready")).failures == []
