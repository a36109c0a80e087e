# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait for rollouts with watches: the workloads, their revisions (ReplicaSets, ControllerRevisions)
and the new revisions' pods stream into one queue, and each event re-evaluates the targets it concerns.
Nothing sleeps and polls and nothing is fetched on the way, so the outcome is known within one
event of the rollout finishing, for any number of targets at once.

What one event costs does not grow with the replicas: events are routed through indexes (name, owner,
revision label), a pod is kept as a PodSummary with its failures worked out on arrival, and a verdict
looks only at the pods that have a failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import queue
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError, KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import (
    CONTROLLER_REVISIONS,
    PODS,
    REPLICASETS,
    WORKLOADS,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.watch import WatchStream
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import (
    DEFAULT_CRASHLOOP_RESTARTS,
    PodSummary,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_watch import (
    STALL_SECONDS,
    PodSieve,
    PodWatch,
    PROBE_JOIN_WINDOW,
    probe_due,
    probed,
    worth_listing,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    daemonset_update_revision,
    deployment_new_replicaset,
    dig,
    replica_counts,
    statefulset_update_revision,
    workload_progress,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    TIMED_OUT,
)

# Which objects tell us the revision a kind is rolling out (StatefulSets say it in their status).
REVISION_RESOURCES = {"Deployment": REPLICASETS, "DaemonSet": CONTROLLER_REVISIONS}
# Seconds a failure that may heal by itself (a registry briefly down, a ConfigMap created a little
# later) is waited through before it fails the rollout. The kubelet retries a failed pull after 10,
# 20, then 40 s: 90 s see four attempts.
DEFAULT_TRANSIENT_GRACE = 90
STOP_CHECK = 0.2
STUCK_REASON = "StatefulSetRollbackStuck"
# The labels that carry a pod's revision (rollout.py's pod_label keys).
REVISION_LABELS = ("pod-template-hash", "controller-revision-hash")


def _uid(obj):
    return obj.uid if isinstance(obj, PodSummary) else obj["metadata"]["uid"]


def _controller_uid(obj):
    for ref in dig(obj, "metadata", "ownerReferences", default=[]):
        if ref.get("controller"):
            return ref.get("uid")
    return None


class RolloutWaiter(object):
    """Wait for all targets; stop_on_failure ends the whole wait at the first failure (fail fast)."""

    def __init__(self, client, targets, timeout, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS,
                 stop_on_failure=True, clock=time.monotonic, transient_grace=DEFAULT_TRANSIENT_GRACE, give_up=None):
        self.client = client
        # give_up: a callable that, once true, ends the wait with the targets still in progress (the dev loop's
        # newer save has overtaken this rollout); looked at every STOP_CHECK seconds.
        self.give_up = give_up
        self.targets = list(targets)
        self.timeout = timeout
        self.crashloop_restarts = crashloop_restarts
        self.transient_grace = transient_grace
        self.stop_on_failure = stop_on_failure
        self.clock = clock
        self._events = queue.Queue()
        self._serial = itertools.count()
        self._streams = {}           # key -> WatchStream running now; late events of stopped ones are dropped
        self._pod_watches = []
        self._probe_at = {}          # target index -> when its new pods are to be listed next (probe_due)
        self._pods_wanted_changed = False
        # Routing indexes: which target an object belongs to, without asking every target.
        self._position = dict((id(t), i) for i, t in enumerate(self.targets))
        self._by_name = dict(((t.namespace, t.name), i) for i, t in enumerate(self.targets))
        self._by_uid = dict((t.uid, i) for i, t in enumerate(self.targets) if t.uid)
        self._by_label = {}          # revision pod label -> indexes of the targets rolling it out
        self._holders = {}           # (stream kind, uid) -> indexes of the targets keeping that object

    def _sink(self, key, event, payload):
        self._events.put((key, event, payload))

    def _start(self, resource, namespace, stream_kind, members, **selectors):
        key = (stream_kind, members, next(self._serial))
        stream = WatchStream(self.client, resource, namespace, key, self._sink, **selectors)
        self._streams[key] = stream
        stream.start()
        return stream

    def _start_streams(self):
        """A target alone in its namespace gets narrow streams (field/label selectors); targets that
        share a namespace share namespace-wide workload and revision streams, so 20 targets need a few
        connections, not 60. Pods are watched from when the new revisions are known (_narrow_pod_watches)."""
        by_namespace = {}
        for index, target in enumerate(self.targets):
            by_namespace.setdefault(target.namespace, []).append(index)
        for namespace, members in sorted(by_namespace.items()):
            alone = self.targets[members[0]] if len(members) == 1 else None
            for kind in sorted(set(self.targets[i].kind for i in members)):
                of_kind = tuple(i for i in members if self.targets[i].kind == kind)
                self._start(WORKLOADS[kind], namespace, "workload", of_kind,
                            field_selector="metadata.name=%s" % alone.name if alone else None)
                if kind in REVISION_RESOURCES:
                    self._start(REVISION_RESOURCES[kind], namespace, "revisions", of_kind,
                                label_selector=alone.selector if alone else None)
            if any(self.targets[i].needs_every_pod for i in members):
                self._start(PODS, namespace, "pods", tuple(members), label_selector=alone.selector if alone else None)
            else:
                self._pod_watches.append(PodWatch(namespace, tuple(members), alone.selector if alone else None))
                self._probe_at.update((i, float("inf")) for i in members)

    def _narrow_pod_watches(self, now):
        """(Re)start the pod watches of the revisions whose pods are followed and not selected yet; returns
        when the next one is due (inf when none)."""
        self._pods_wanted_changed = False
        next_due = float("inf")
        for watch in self._pod_watches:
            wanted = watch.wanted(self.targets)
            due = watch.restart_due(wanted, now)
            if due is None:
                continue
            if due > now:
                next_due = min(next_due, due)
                continue
            selector, narrowed = watch.selector(wanted)
            old = watch.stream
            watch.stream = self._start(PODS, watch.namespace, "pods", watch.members, label_selector=selector,
                                       prefilter=PodSieve())
            watch.labels, watch.everything, watch.started = wanted, not narrowed, now
            if old is not None:
                self._stop(old)
        return next_due

    def _stop(self, stream):
        self._streams.pop(stream.key, None)
        stream.stop()

    def run(self):
        start = self.clock()
        deadline = start + self.timeout
        for target in self.targets:
            target.started = start
        self._start_streams()
        try:
            for target in self.targets:
                self._evaluate(target, start)
            restart_due = self._narrow_pod_watches(start)
            while not self._settled():
                now = self.clock()
                if now >= deadline or (self.give_up is not None and self.give_up()):
                    break
                if self._next_probe() <= now:
                    self._probe(now)
                    continue    # it may have decided
                if self._pods_wanted_changed or now >= restart_due:
                    restart_due = self._narrow_pod_watches(now)
                wake = min(deadline, self._next_grace_end(), restart_due, self._next_probe())
                if self.give_up is not None:
                    wake = min(wake, now + STOP_CHECK)
                try:
                    key, event, payload = self._events.get(timeout=max(0.0, wake - now))
                except queue.Empty:
                    self.recheck(self.clock())   # a grace may have run out with no event
                    continue
                if key in self._streams:
                    self.feed(key, event, payload, self.clock())
        finally:
            for stream in list(self._streams.values()):
                self._stop(stream)
        self._close_unfinished(deadline)
        return self.targets

    def feed(self, key, event, payload, now):
        """Take one stream event (key = (stream kind, target indexes, ...)) and re-evaluate its targets."""
        if key[0] == "pods" and event not in ("DISCONNECTED", "FATAL"):
            # Kept as summaries: the failures worked out once, here, not per evaluation.
            if event == "SYNC":
                payload = [PodSummary(pod, self.crashloop_restarts) for pod in payload]
            else:
                payload = PodSummary(payload, self.crashloop_restarts)
        for target, stream_kind, target_event, target_payload in self._route(key, event, payload):
            self._apply(target, stream_kind, target_event, target_payload, now)
            self._evaluate(target, now)

    def recheck(self, now):
        """Re-evaluate the targets waiting through a transient failure (its grace may be over)."""
        for target in self.targets:
            if target.transient_since:
                self._evaluate(target, now)

    def _next_probe(self):
        """When the next stalled rollout's new pods are to be listed (pod_watch.py)."""
        return min(self._probe_at.values()) if self._probe_at else float("inf")

    def _probe(self, now):
        """List the new pods of the rollouts that stalled, one request per namespace; a pod in trouble there
        decides the rollout or has its revision's pods watched from now on."""
        for watch in self._pod_watches:
            when = dict((i, probe_due(self.targets[i])) for i in watch.members)
            if not any(at <= now for at in when.values()):
                continue
            # Stalls that began a little later join this list: one request, not one per stall as it begins.
            due = tuple(i for i in watch.members if when[i] <= now + PROBE_JOIN_WINDOW)
            selector, _narrowed = watch.selector(frozenset(self.targets[i].revision["pod_label"] for i in due))
            try:
                self.feed(("pods", due), "SYNC", self._probe_pods(watch.namespace, selector), now)
            except ApiError as exc:
                # As a watch takes it: no permission (or no namespace) will not pass; anything else may.
                self.feed(("pods", due), "FATAL" if exc.status in (401, 403, 404) else "DISCONNECTED", exc, now)
            except KubeError as exc:
                self.feed(("pods", due), "DISCONNECTED", str(exc), now)
            for i in due:
                probed(self.targets[i], now)
                self._pods_wanted_changed = self._pods_wanted_changed or self.targets[i].watch_pods
                self._probe_at[i] = probe_due(self.targets[i])

    def _probe_pods(self, namespace, selector):
        """The selected pods worth a closer look: none when the printed Table shows only healthy ones
        (pod_watch.worth_listing), else all of them in full. The full list answers "which pods exist" as
        well; an empty answer only says no pod is failing, which is all a probe asks."""
        table = self._pod_table(namespace, selector)
        if not worth_listing(table):
            return []
        if table.get("kind") == "PodList":     # a server that does not print: it sent the pods in full
            return table.get("items") or []
        return self._list_pods(namespace, selector)

    def _pod_table(self, namespace, selector):
        return self.client.table(PODS, namespace, label_selector=selector)

    def _list_pods(self, namespace, selector):
        return self.client.list(PODS, namespace, label_selector=selector).get("items") or []

    def _next_grace_end(self):
        ends = [since + self.transient_grace for t in self.targets if t.outcome is None
                for since in t.transient_since.values()]
        return min(ends) if ends else float("inf")

    def _settled(self):
        if all(t.outcome is not None for t in self.targets):
            return True
        return self.stop_on_failure and any(t.outcome and t.outcome["status"] == FAILED for t in self.targets)

    def _owners(self, stream_kind, obj, members):
        """Indexes among members of the targets obj belongs to: the workload's controller reference for
        revisions; for pods the revision label, then the workload's selector."""
        if stream_kind == "revisions":
            index = self._by_uid.get(_controller_uid(obj))
            return [index] if index in members else []
        candidates = set()
        for key in REVISION_LABELS:
            if key in obj.labels:
                candidates.update(self._by_label.get((key, obj.labels[key]), ()))
        found = [i for i in sorted(candidates) if i in members and self.targets[i].selects(obj.labels)]
        if found or candidates:
            return found
        # Not of a revision known here (a watch that sees every pod, or an event before the revision
        # is known): ask the targets themselves.
        return [i for i in members if self.targets[i].selects(obj.labels)]

    def _route(self, key, event, payload):
        """Split one stream event into per-target events (a stream may serve several targets)."""
        stream_kind, members = key[0], key[1]
        if event in ("DISCONNECTED", "FATAL"):
            return [(self.targets[i], stream_kind, event, payload) for i in members]
        if stream_kind == "workload":
            if event == "SYNC":
                return [(self.targets[i], stream_kind, event,
                         [o for o in payload if o["metadata"]["name"] == self.targets[i].name]) for i in members]
            index = self._by_name.get((dig(payload, "metadata", "namespace"), dig(payload, "metadata", "name")))
            return [(self.targets[index], stream_kind, event, payload)] if index in members else []
        if event == "SYNC":
            chosen = dict((i, []) for i in members)
            for obj in payload:
                for i in self._owners(stream_kind, obj, members):
                    chosen[i].append(obj)
            return [(self.targets[i], stream_kind, event, chosen[i]) for i in members]
        # Only targets the object concerns are touched: with many targets, re-evaluating all of
        # them for every pod event would cost more than the wait itself.
        owners = self._owners(stream_kind, payload, members) if event != "DELETED" else []
        routed = [(self.targets[i], stream_kind, event, payload) for i in owners]
        for i in sorted(self._holders.get((stream_kind, _uid(payload)), ())):
            if i in members and i not in owners:  # deleted, or no longer selected/owned (labels or owner changed)
                routed.append((self.targets[i], stream_kind, "DELETED", payload))
        return routed

    def _apply(self, target, stream_kind, event, payload, now):
        if target.outcome is not None:
            return
        if event == "DISCONNECTED":
            target.reconnects += 1
        elif event == "FATAL":
            target.finish(now, FAILED, getattr(payload, "reason", None) or "ApiError", str(payload))
        elif stream_kind == "workload":
            if event == "DELETED" or (event == "SYNC" and not payload):
                target.finish(now, FAILED, "Deleted", "%s was deleted while waiting for its rollout" % target.ref)
            else:
                target.obj = payload[0] if event == "SYNC" else payload
        else:
            if event == "SYNC" and stream_kind == "revisions":
                target.revisions_listed = True
            if event == "SYNC":
                for obj in list(self._known(target, stream_kind).values()):
                    self._forget(target, stream_kind, obj)
                for obj in payload:
                    self._keep(target, stream_kind, obj)
            elif event == "DELETED":
                self._forget(target, stream_kind, payload)
            else:
                self._keep(target, stream_kind, payload)

    @staticmethod
    def _known(target, stream_kind):
        return target.pods if stream_kind == "pods" else target.revisions

    def _keep(self, target, stream_kind, obj):
        uid = _uid(obj)
        self._known(target, stream_kind)[uid] = obj
        self._holders.setdefault((stream_kind, uid), set()).add(self._position[id(target)])
        if stream_kind == "pods":
            if obj.failures:
                target.failing[uid] = obj
            else:
                target.failing.pop(uid, None)

    def _forget(self, target, stream_kind, obj):
        uid = _uid(obj)
        self._known(target, stream_kind).pop(uid, None)
        if stream_kind == "pods":
            target.failing.pop(uid, None)
        holders = self._holders.get((stream_kind, uid))
        if holders is not None:
            holders.discard(self._position[id(target)])
            if not holders:
                del self._holders[(stream_kind, uid)]

    def _evaluate(self, target, now):
        self._judge(target, now)
        index = self._position[id(target)]
        if index in self._probe_at:
            self._probe_at[index] = probe_due(target)

    def _judge(self, target, now):
        if target.outcome is not None:
            return
        obj = target.obj
        if target.timeline.record(now - target.started, replica_counts(target.kind, obj)) or target.last_progress is None:
            target.last_progress, target.probe_interval = now, STALL_SECONDS
        self._refresh_revision(target)
        progress = workload_progress(target.kind, obj, target.stale_conditions)
        target.progress_message = progress["message"]
        if progress["failure"]:
            target.finish(now, FAILED, progress["failure"]["reason"], progress["failure"]["message"])
        elif progress["complete"]:
            # Done - reported once the revision list arrived, so the result can name the revision.
            if target.revisions_listed:
                target.finish(now, COMPLETE, message=progress["message"])
        elif target.revision:
            label = target.revision["pod_label"]
            failing = sorted((pod for pod in target.failing.values() if pod.has_label(label)), key=lambda pod: pod.name)
            failure = self._decisive_failure(target, [f for pod in failing for f in pod.failures], now)
            if failure:
                target.finish(now, FAILED, failure["reason"], failure["message"], failure["pod"])
            elif target.restoring and target.kind == "StatefulSet":
                self._check_stuck_statefulset(target, now)
            return
        # No pod of a known new revision was looked at: nothing transient is being timed.
        target.transient_since.clear()
        target.transient_note = None

    def _decisive_failure(self, target, failures, now):
        """The failure that ends the rollout now: the first permanent one, or a transient one whose grace
        is over. Transient ones are timed from when they were first seen; one that clears starts afresh."""
        permanent = [f for f in failures if not f["transient"]]
        if permanent:
            return permanent[0]
        current = dict((f["key"], f) for f in failures)
        for key in list(target.transient_since):
            if key not in current:
                del target.transient_since[key]
        target.transient_note = None
        for key, failure in current.items():
            since = target.transient_since.setdefault(key, now)
            if now >= since + self.transient_grace:   # the very sum the waiter sleeps until
                return dict(failure, message="%s (a failure that can be transient, but it did not heal within "
                                             "transient_failure_grace, %gs)" % (failure["message"], self.transient_grace))
            target.transient_note = "%s (may be transient: waiting up to %gs for it to heal)" % (
                failure["message"], self.transient_grace)
        return None

    def _check_stuck_statefulset(self, target, now):
        """kubernetes/kubernetes#67250: under OrderedReady the StatefulSet controller waits for every pod to
        be Running and Ready before it replaces any, so a pod of the failed revision that can never get
        ready is never replaced by the restored template. Only a person can delete it; say so."""
        if dig(target.obj, "spec", "podManagementPolicy", default="OrderedReady") != "OrderedReady":
            return
        _key, value = target.revision["pod_label"]
        stuck = sorted((pod for pod in target.failing.values() if pod.labels.get("controller-revision-hash") != value),
                       key=lambda pod: pod.name)
        failures = [f for pod in stuck for f in pod.failures if not f["transient"]]
        if not failures:
            return
        failure = failures[0]
        target.finish(now, FAILED, STUCK_REASON, (
            "%s cannot finish the rollback by itself: %s. With podManagementPolicy OrderedReady the StatefulSet "
            "controller waits for that pod to become Ready before it replaces it, which it never will "
            "(kubernetes/kubernetes#67250). Delete the pod (kubectl -n %s delete pod %s); the controller then "
            "recreates it from the restored template" % (
                target.ref, failure["message"], target.namespace, failure["pod"])), failure["pod"])

    def _refresh_revision(self, target):
        """Which revision is rolling out: its pods are the ones whose failures count."""
        if target.kind == "StatefulSet":
            found = statefulset_update_revision(target.obj)
        elif target.kind == "Deployment":
            found = deployment_new_replicaset(target.obj, target.revisions.values())
        else:
            found = daemonset_update_revision(target.obj, target.revisions.values())
        # Unknown until the controller has observed the generation and made the revision; until
        # then no pod counts as "new", so pods of an earlier revision can never fail this one.
        if found != target.revision:
            index = self._position[id(target)]
            if target.revision:
                self._by_label.get(target.revision["pod_label"], set()).discard(index)
            if found:
                self._by_label.setdefault(found["pod_label"], set()).add(index)
            self._pods_wanted_changed = True
        target.revision = found

    def _close_unfinished(self, deadline):
        now = self.clock()
        for target in self.targets:
            if target.outcome is not None:
                continue
            if now >= deadline:
                hint = "; " + target.transient_note if target.transient_note else self._hint(target, self._current_pods(target))
                target.finish(now, TIMED_OUT, "Timeout", "rollout not complete after %gs: %s%s" % (
                    self.timeout, target.progress_message, hint))
            elif self.give_up is not None and self.give_up():
                target.finish(now, IN_PROGRESS, None, "overtaken by a newer rollout; last state: %s"
                              % target.progress_message)
            else:
                target.finish(now, IN_PROGRESS, None,
                              "stopped waiting because another target failed; last state: %s" % target.progress_message)

    def _current_pods(self, target):
        """The new revision's pods as they are now, for a timeout's hint: the watch decoded only the failing
        ones (PodSieve). Without a client (or a known revision) those the waiter kept."""
        if self.client is None or not target.revision:
            return list(target.pods.values())
        selector = ",".join(part for part in (target.selector, "%s=%s" % target.revision["pod_label"]) if part)
        try:
            pods = self._list_pods(target.namespace, selector)
        except KubeError:
            return list(target.pods.values())
        return [PodSummary(pod, self.crashloop_restarts) for pod in pods]

    @staticmethod
    def _hint(target, pods):
        if target.revision:
            pods = [pod for pod in pods if pod.has_label(target.revision["pod_label"])]
        for pod in sorted(pods, key=lambda pod: pod.name):
            if pod.hint:
                return "; " + pod.hint
        return ""
