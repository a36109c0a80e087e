"""Which pod events the watch thread decodes: those that can fail a rollout, and every later one of
such a pod. Events are recorded pods, serialized the way the API server writes watch events."""

import json

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_watch import PodSieve


def line(event_type, pod):
    """One watch event as the API server sends it: compact JSON, "type" first."""
    return json.dumps({"type": event_type, "object": pod}, separators=(",", ":")).encode()


def with_uid(pod, uid):
    """The pod with this uid, its metadata in the API server's field order (ObjectMeta's: the uid before
    the ownerReferences)."""
    meta = pod["metadata"]
    pod["metadata"] = {"name": meta["name"], "generateName": meta.get("generateName"), "namespace": meta["namespace"],
                       "uid": uid, "resourceVersion": "1", "labels": meta.get("labels", {}),
                       "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5c7b4f57d6", "uid": "owner-uid",
                                            "controller": True}]}
    if meta.get("deletionTimestamp"):
        pod["metadata"]["deletionTimestamp"] = meta["deletionTimestamp"]
    return pod


def test_pods_starting_as_they_should_are_not_decoded(recorded):
    sieve = PodSieve()
    for state in ("container_creating", "running_ready", "unschedulable", "terminating"):
        assert not sieve.wants(line("MODIFIED", with_uid(recorded("pods", state), state))), state


def test_a_failing_pod_is_decoded_and_so_is_its_recovery(recorded):
    sieve = PodSieve()
    assert sieve.wants(line("MODIFIED", with_uid(recorded("pods", "err_image_pull"), "pod-a")))
    assert sieve.wants(line("MODIFIED", with_uid(recorded("pods", "running_ready"), "pod-a")))     # healed
    assert not sieve.wants(line("MODIFIED", with_uid(recorded("pods", "running_ready"), "pod-b")))
    # The owner's uid (the ReplicaSet's, shared by every pod) is not taken for the pod's.
    assert sieve.uids == {b"pod-a"}


def test_every_failing_reason_is_noticed(recorded):
    for state in ("err_image_pull", "image_pull_backoff", "crashloop_restarts_1", "init_crashloop"):
        assert PodSieve().wants(line("MODIFIED", with_uid(recorded("pods", state), state))), state


def test_a_pod_listed_failing_keeps_being_decoded(recorded):
    sieve = PodSieve()
    sieve.listed([with_uid(recorded("pods", "crashloop_restarts_1"), "pod-c"),
                  with_uid(recorded("pods", "running_ready"), "pod-d")])
    assert sieve.wants(line("MODIFIED", with_uid(recorded("pods", "running_ready"), "pod-c")))
    assert not sieve.wants(line("MODIFIED", with_uid(recorded("pods", "running_ready"), "pod-d")))


def owner_first(pod):
    pod["metadata"] = dict(sorted(pod["metadata"].items()))     # ownerReferences before uid
    return pod


def test_metadata_in_another_order_makes_it_decode_more_never_less(recorded):
    """Were the owner's uid taken for the pod's, one failing pod would have every pod of its ReplicaSet
    decoded: slower, never wrong."""
    sieve = PodSieve()
    assert sieve.wants(line("MODIFIED", owner_first(with_uid(recorded("pods", "err_image_pull"), "pod-a"))))
    assert sieve.wants(line("MODIFIED", owner_first(with_uid(recorded("pods", "running_ready"), "pod-b"))))
