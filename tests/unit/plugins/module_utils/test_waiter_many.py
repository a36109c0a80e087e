"""50 Deployments in one namespace, as one set_image task waits for them: events reach only the target
they concern, pods are kept as summaries, and pods are asked for only when a rollout stalls, only those
of its new revision, and watched only when one is in trouble."""

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import PodSummary
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_watch import PROBE_JOIN_WINDOW, STALL_SECONDS, probe_due
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter

COUNT = 50
REVISION = "deployment.kubernetes.io/revision"
NOT_FOUND = 'failed to pull image "127.0.0.1:5000/app:2": 127.0.0.1:5000/app:2: not found'


def deployment(i, replicas=20, updated=0):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "svc-%02d" % i, "namespace": "ns", "uid": "dep-%02d" % i, "generation": 2,
                         "annotations": {REVISION: "2"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "svc-%02d" % i}}},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated,
                       "availableReplicas": updated}}


def replicaset(i, revision, pod_hash):
    return {"metadata": {"name": "svc-%02d-%s" % (i, pod_hash), "namespace": "ns", "uid": "rs-%02d-%s" % (i, revision),
                         "annotations": {REVISION: revision}, "labels": {"app": "svc-%02d" % i, "pod-template-hash": pod_hash},
                         "ownerReferences": [{"uid": "dep-%02d" % i, "controller": True}]}}


def pod(i, n, pod_hash, waiting=None):
    status = {"containerStatuses": [{"name": "web", "state": {"waiting": waiting} if waiting else {"running": {}}}]}
    return {"metadata": {"name": "svc-%02d-%s-%03d" % (i, pod_hash, n), "uid": "pod-%02d-%s-%03d" % (i, pod_hash, n),
                         "labels": {"app": "svc-%02d" % i, "pod-template-hash": pod_hash}}, "status": status}


class RecordingWaiter(RolloutWaiter):
    """Records the streams it would open instead of connecting (the real ones: tests/integration)."""

    class Stream:
        def __init__(self, key, selectors):
            self.key, self.selectors, self.stopped = key, selectors, False

        def stop(self):
            self.stopped = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened = []
        self.listed, self.listed_pods = [], []
        self.printed = None         # the Table a probe gets; None: a server that answers with the plain list
        self.read_in_full = []

    def _pod_table(self, namespace, selector):
        self.listed.append((namespace, selector))
        return self.printed or {"kind": "PodList", "items": self.listed_pods}

    def _list_pods(self, namespace, selector):
        self.read_in_full.append((namespace, selector))
        return self.listed_pods

    def _start(self, resource, namespace, stream_kind, members, **selectors):
        selectors.pop("prefilter", None)    # PodSieve: tests/unit/plugins/module_utils/test_pod_sieve.py
        stream = self.Stream((stream_kind, members, len(self.opened)), selectors)
        self.opened.append(stream)
        self._streams[stream.key] = stream
        return stream


def fleet():
    targets = [RolloutTarget("Deployment", deployment(i)) for i in range(COUNT)]
    waiter = RecordingWaiter(client=None, targets=targets, timeout=300)
    for target in targets:
        target.started = 0.0
    return waiter, targets


def new_hash(i):
    return "new%02d" % i


def test_events_reach_only_the_target_they_concern():
    waiter, targets = fleet()
    members = tuple(range(COUNT))
    replicasets = [replicaset(i, "1", "old%02d" % i) for i in range(COUNT)] + [
        replicaset(i, "2", new_hash(i)) for i in range(COUNT)]
    waiter.feed(("revisions", members), "SYNC", replicasets, 1.0)
    assert [t.revision["pod_label"] for t in targets] == [("pod-template-hash", new_hash(i)) for i in range(COUNT)]
    assert all(len(t.revisions) == 2 for t in targets)

    for i in range(COUNT):
        for n in range(20):
            waiter.feed(("pods", members), "ADDED", pod(i, n, new_hash(i)), 2.0)
    assert all(len(t.pods) == 20 and not t.failing for t in targets)
    assert all(isinstance(p, PodSummary) for t in targets for p in t.pods.values())

    # An old revision's failing pod fails nothing; the new revision's fails its own Deployment only.
    waiter.feed(("pods", members), "MODIFIED", pod(3, 0, "old03", {"reason": "ErrImagePull", "message": NOT_FOUND}), 3.0)
    assert targets[3].outcome is None and len(targets[3].failing) == 1
    waiter.feed(("pods", members), "MODIFIED", pod(7, 5, new_hash(7), {"reason": "ErrImagePull", "message": NOT_FOUND}), 4.0)
    assert targets[7].outcome["reason"] == "ErrImagePull"
    assert targets[7].outcome["pod"] == "svc-07-new07-005"
    assert [t.name for t in targets if t.outcome] == ["svc-07"]

    # A pod relabelled out of its Deployment's selector leaves it.
    moved = pod(9, 0, new_hash(9))
    moved["metadata"]["labels"]["app"] = "elsewhere"
    waiter.feed(("pods", members), "MODIFIED", moved, 5.0)
    assert len(targets[9].pods) == 19
    waiter.feed(("pods", members), "DELETED", pod(9, 1, new_hash(9)), 6.0)
    assert len(targets[9].pods) == 18


def test_stalled_rollouts_have_their_new_pods_listed_and_followed_when_in_trouble():
    waiter, targets = fleet()
    members = tuple(range(COUNT))
    waiter._start_streams()
    assert [(s.key[0], s.selectors) for s in waiter.opened] == [
        ("workload", {"field_selector": None}), ("revisions", {"label_selector": None})]
    for i in range(COUNT):
        waiter.feed(("revisions", members), "ADDED", replicaset(i, "2", new_hash(i)), 1.0)
    assert waiter._narrow_pod_watches(1.0) == float("inf")            # nothing in trouble: no pod watch
    assert waiter._next_probe() == 1.0 + STALL_SECONDS
    waiter.feed(("workload", members), "MODIFIED", deployment(0, updated=5), 2.5)   # svc-00 progresses

    crashing = pod(9, 0, new_hash(9), {"reason": "CrashLoopBackOff"})
    crashing["status"]["containerStatuses"][0]["restartCount"] = 1          # below crashloop_restarts (2)
    waiter.listed_pods = [pod(i, 0, new_hash(i)) for i in range(COUNT)] + [
        pod(7, 1, new_hash(7), {"reason": "ErrImagePull", "message": NOT_FOUND}), crashing]
    waiter._probe(1.0 + STALL_SECONDS)
    assert waiter.listed == [("ns", "pod-template-hash in (%s)" % ",".join(new_hash(i) for i in range(1, COUNT)))]
    assert [t.name for t in targets if t.outcome] == ["svc-07"]
    assert targets[7].outcome["reason"] == "ErrImagePull"
    assert [t.name for t in targets if t.watch_pods] == ["svc-09"]
    assert len(targets[1].pods) == 1 and targets[0].pods == {}
    # The stall goes on: the next list after twice the interval; svc-00 after its own stall.
    assert targets[1].last_probe + 2 * STALL_SECONDS == probe_due(targets[1])
    assert probe_due(targets[0]) == 2.5 + STALL_SECONDS

    waiter._narrow_pod_watches(3.0)
    assert waiter.opened[-1].key[0] == "pods"
    assert waiter.opened[-1].selectors == {"label_selector": "pod-template-hash in (new09)"}
    assert waiter._narrow_pod_watches(3.1) == float("inf")


def test_stalls_beginning_close_together_share_one_list():
    """svc-00 stalls a little after the others and joins their list; svc-01, further off, is listed on its own."""
    waiter, targets = fleet()
    members = tuple(range(COUNT))
    waiter._start_streams()
    for i in range(COUNT):
        waiter.feed(("revisions", members), "ADDED", replicaset(i, "2", new_hash(i)), 1.0)
    waiter.feed(("workload", members), "MODIFIED", deployment(0, updated=2), 1.0 + PROBE_JOIN_WINDOW / 2)
    waiter.feed(("workload", members), "MODIFIED", deployment(1, updated=2), 1.0 + 1.5 * PROBE_JOIN_WINDOW)
    waiter.listed_pods = []
    waiter._probe(1.0 + STALL_SECONDS)
    assert waiter.listed == [("ns", "pod-template-hash in (%s)" % ",".join(new_hash(i) for i in range(COUNT) if i != 1))]
    assert waiter._next_probe() == probe_due(targets[1]) == 1.0 + 1.5 * PROBE_JOIN_WINDOW + STALL_SECONDS
    waiter._probe(waiter._next_probe())
    assert waiter.listed[1:] == [("ns", "pod-template-hash in (%s)" % new_hash(1))]


def alone():
    """One Deployment alone in its namespace, its new revision known at t=1 (streams opened, not connected)."""
    target = RolloutTarget("Deployment", deployment(0))
    waiter = RecordingWaiter(client=None, targets=[target], timeout=300)
    target.started = 0.0
    waiter._start_streams()
    waiter.feed(("revisions", (0,)), "SYNC", [replicaset(0, "1", "old00"), replicaset(0, "2", new_hash(0))], 1.0)
    return waiter, target


def test_a_target_alone_watches_its_own_new_pods():
    waiter, target = alone()
    waiter.listed_pods = [pod(0, 0, new_hash(0), {"reason": "ErrImagePull", "message": "connection refused"})]
    waiter._probe(1.0 + STALL_SECONDS)
    assert waiter.listed == [("ns", "app=svc-00,pod-template-hash in (new00)")]
    assert target.transient_since and target.watch_pods
    waiter._narrow_pod_watches(1.0 + STALL_SECONDS)
    assert [(s.key[0], s.selectors) for s in waiter.opened] == [
        ("workload", {"field_selector": "metadata.name=svc-00"}),
        ("revisions", {"label_selector": "app=svc-00"}),
        ("pods", {"label_selector": "app=svc-00,pod-template-hash in (new00)"})]


def test_a_statefulset_being_rolled_back_watches_every_pod_of_it():
    sts = deployment(0)
    sts["kind"] = "StatefulSet"
    target = RolloutTarget("StatefulSet", sts, restoring=True)
    waiter = RecordingWaiter(client=None, targets=[target], timeout=300)
    waiter._start_streams()
    assert [(s.key[0], s.selectors) for s in waiter.opened] == [
        ("workload", {"field_selector": "metadata.name=svc-00"}), ("pods", {"label_selector": "app=svc-00"})]


def printed(*statuses):
    """A Table of pods as the API server prints them (columns of `kubectl get pods -o wide`)."""
    columns = ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": [{"name": name, "type": "string"} for name in columns],
            "rows": [{"cells": ["svc-00-new00-%03d" % n, "0/1", status, "0", "2s", "<none>", "kwok-node-0", "<none>",
                                "<none>"], "object": None} for n, status in enumerate(statuses)]}


def test_a_probe_reads_pods_in_full_only_when_one_is_printed_unhealthy():
    waiter, target = alone()
    waiter.listed_pods = [pod(0, 2, new_hash(0), {"reason": "ImagePullBackOff", "message": NOT_FOUND})]

    waiter.printed = printed("Running", "Pending", "ContainerCreating", "Init:0/1")
    waiter._probe(1.0 + STALL_SECONDS)
    assert waiter.listed == [("ns", "app=svc-00,pod-template-hash in (new00)")]
    assert waiter.read_in_full == [] and target.outcome is None and target.pods == {}

    waiter.printed = printed("Running", "Running", "ImagePullBackOff")
    waiter._probe(waiter._next_probe())
    assert waiter.read_in_full == [("ns", "app=svc-00,pod-template-hash in (new00)")]
    assert target.outcome["reason"] == "ImagePullBackOff" and target.outcome["pod"] == "svc-00-new00-002"
