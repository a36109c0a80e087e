# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait for rollouts with watches: the workloads, their revisions (ReplicaSets, ControllerRevisions)
and their pods stream into one queue, and each event re-evaluates the targets it concerns.
Nothing sleeps and polls and nothing is fetched on the way, so the outcome is known within one
event of the rollout finishing, for any number of targets at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import (
    CONTROLLER_REVISIONS,
    PODS,
    REPLICASETS,
    WORKLOADS,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.watch import WatchStream
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import (
    DEFAULT_CRASHLOOP_RESTARTS,
    failures_of,
    pod_pending_hint,
    pods_with_label,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    daemonset_update_revision,
    deployment_new_replicaset,
    dig,
    label_selector_string,
    owned_by,
    replica_counts,
    selector_matches,
    statefulset_update_revision,
    workload_progress,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.timeline import Timeline

COMPLETE = "complete"
FAILED = "failed"
TIMED_OUT = "timed_out"
IN_PROGRESS = "in_progress"  # waiting stopped early because another target failed

# Which objects tell us the revision a kind is rolling out (StatefulSets say it in their status).
REVISION_RESOURCES = {"Deployment": REPLICASETS, "DaemonSet": CONTROLLER_REVISIONS}
# Seconds a failure that may heal by itself (a registry briefly down, a ConfigMap created a little
# later) is waited through before it fails the rollout. The kubelet retries a failed pull after 10,
# 20, then 40 s: 90 s see four attempts.
DEFAULT_TRANSIENT_GRACE = 90
STUCK_REASON = "StatefulSetRollbackStuck"


class RolloutTarget(object):
    """One workload to wait for, and everything learned about it while waiting."""

    def __init__(self, kind, obj, stale_conditions=(), restoring=False):
        self.kind = kind
        self.restoring = restoring   # a rollback: watch for a StatefulSet the controller will not finish
        self.obj = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.selector_object = dig(obj, "spec", "selector", default={})
        self.selector = label_selector_string(self.selector_object)
        self.stale_conditions = frozenset(stale_conditions)
        self.pods = {}               # uid -> pod selected by the workload
        self.revisions = {}          # uid -> ReplicaSet / ControllerRevision the workload owns
        self.revisions_listed = kind not in REVISION_RESOURCES   # StatefulSets need no list
        self.revision = None         # dict(name, revision, pod_label) of the revision rolling out
        self.progress_message = "waiting for the first status"
        self.transient_since = {}    # (pod uid, container) -> when its transient failure was first seen
        self.transient_note = None   # the transient failure being waited through, for messages
        self.outcome = None
        self.timeline = Timeline()
        self.reconnects = 0
        self.started = None
        self.finished = None

    @property
    def ref(self):
        return "%s %s/%s" % (self.kind, self.namespace, self.name)

    def selects(self, pod):
        return selector_matches(self.selector_object, dig(pod, "metadata", "labels", default={}))

    def owns(self, obj):
        return owned_by(obj, self.obj)

    def finish(self, now, status, reason=None, message=None, pod=None):
        if self.outcome is None:
            self.outcome = {"status": status, "reason": reason, "message": message, "pod": pod}
            self.finished = now

    def result(self):
        """The wait-related fields of a target's entry in the module result."""
        outcome = self.outcome or {"status": IN_PROGRESS, "reason": None, "message": None, "pod": None}
        return {
            "status": outcome["status"],
            "reason": outcome["reason"],
            "message": outcome["message"],
            "pod": outcome["pod"],
            "revision": (self.revision or {}).get("revision"),
            "new_replicaset": (self.revision or {}).get("name"),
            "duration": round((self.finished or 0) - (self.started or 0), 2) if self.finished else None,
            "timeline": self.timeline.as_list(),
            "watch_reconnects": self.reconnects,
        }

    def outcome_line(self):
        """'Deployment ns/web rollout failed: ImagePullBackOff: pod ... ' - how both modules report a target
        whose rollout did not complete."""
        outcome = self.result()
        detail = outcome["message"] or outcome["reason"] or outcome["status"]
        if outcome["reason"] and outcome["reason"] not in detail:
            detail = "%s: %s" % (outcome["reason"], detail)
        return "%s rollout %s: %s" % (self.ref, outcome["status"].replace("_", " "), detail)


class RolloutWaiter(object):
    """Wait for all targets; stop_on_failure ends the whole wait at the first failure (fail fast)."""

    def __init__(self, client, targets, timeout, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS,
                 stop_on_failure=True, clock=time.monotonic, transient_grace=DEFAULT_TRANSIENT_GRACE):
        self.client = client
        self.targets = list(targets)
        self.timeout = timeout
        self.crashloop_restarts = crashloop_restarts
        self.transient_grace = transient_grace
        self.stop_on_failure = stop_on_failure
        self.clock = clock
        self._events = queue.Queue()

    def _sink(self, key, event, payload):
        self._events.put((key, event, payload))

    def _stream(self, resource, namespace, stream_kind, members, alone, **selectors):
        if alone is None:
            selectors = {}  # shared by several targets: the whole namespace, routed here
        return WatchStream(self.client, resource, namespace, (stream_kind, members), self._sink, **selectors)

    def _streams(self):
        """A target alone in its namespace gets narrow streams (field/label selectors); targets that
        share a namespace share namespace-wide streams, so 20 targets need 3 connections, not 60."""
        streams = []
        by_namespace = {}
        for index, target in enumerate(self.targets):
            by_namespace.setdefault(target.namespace, []).append(index)
        for namespace, members in sorted(by_namespace.items()):
            alone = self.targets[members[0]] if len(members) == 1 else None
            kinds = sorted(set(self.targets[i].kind for i in members))
            for kind in kinds:
                of_kind = tuple(i for i in members if self.targets[i].kind == kind)
                streams.append(self._stream(WORKLOADS[kind], namespace, "workload", of_kind, alone,
                                            field_selector="metadata.name=%s" % (alone.name if alone else "")))
                if kind in REVISION_RESOURCES:
                    streams.append(self._stream(REVISION_RESOURCES[kind], namespace, "revisions", of_kind, alone,
                                                label_selector=alone.selector if alone else None))
            streams.append(self._stream(PODS, namespace, "pods", tuple(members), alone,
                                        label_selector=alone.selector if alone else None))
        return streams

    def run(self):
        start = self.clock()
        deadline = start + self.timeout
        for target in self.targets:
            target.started = start
        streams = self._streams()
        for stream in streams:
            stream.start()
        try:
            for target in self.targets:
                self._evaluate(target, start)
            while not self._settled():
                now = self.clock()
                if now >= deadline:
                    break
                try:
                    key, event, payload = self._events.get(timeout=max(0.0, min(deadline, self._next_grace_end()) - now))
                except queue.Empty:
                    self.recheck(self.clock())   # a grace may have run out with no event
                    continue
                self.feed(key, event, payload, self.clock())
        finally:
            for stream in streams:
                stream.stop()
        self._close_unfinished(deadline)
        return self.targets

    def feed(self, key, event, payload, now):
        """Take one stream event (key = (stream kind, target indexes)) and re-evaluate its targets."""
        for target, stream_kind, target_event, target_payload in self._route(key, event, payload):
            self._apply(target, stream_kind, target_event, target_payload, now)
            self._evaluate(target, now)

    def recheck(self, now):
        """Re-evaluate the targets waiting through a transient failure (its grace may be over)."""
        for target in self.targets:
            if target.transient_since:
                self._evaluate(target, now)

    def _next_grace_end(self):
        ends = [since + self.transient_grace for t in self.targets if t.outcome is None
                for since in t.transient_since.values()]
        return min(ends) if ends else float("inf")

    def _settled(self):
        if all(t.outcome is not None for t in self.targets):
            return True
        return self.stop_on_failure and any(t.outcome and t.outcome["status"] == FAILED for t in self.targets)

    def _route(self, key, event, payload):
        """Split one stream event into per-target events (a stream may serve several targets)."""
        stream_kind, members = key
        targets = [self.targets[i] for i in members]
        if event in ("DISCONNECTED", "FATAL"):
            return [(t, stream_kind, event, payload) for t in targets]
        if stream_kind == "workload":
            if event == "SYNC":
                return [(t, stream_kind, event, [o for o in payload if o["metadata"]["name"] == t.name])
                        for t in targets]
            return [(t, stream_kind, event, payload) for t in targets if t.name == payload["metadata"]["name"]]
        if stream_kind == "pods":
            def belongs(t, obj):
                return t.selects(obj)

            def holds(t, uid):
                return uid in t.pods
        else:
            def belongs(t, obj):
                return t.owns(obj)

            def holds(t, uid):
                return uid in t.revisions
        if event == "SYNC":
            return [(t, stream_kind, event, [obj for obj in payload if belongs(t, obj)]) for t in targets]
        # Only targets the object concerns are touched: with many targets, re-evaluating all of
        # them for every pod event would cost more than the wait itself.
        uid = payload["metadata"]["uid"]
        routed = []
        for t in targets:
            if event != "DELETED" and belongs(t, payload):
                routed.append((t, stream_kind, event, payload))
            elif holds(t, uid):  # deleted, or no longer selected/owned (labels or owner changed)
                routed.append((t, stream_kind, "DELETED", payload))
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
            known = target.pods if stream_kind == "pods" else target.revisions
            if event == "SYNC" and stream_kind == "revisions":
                target.revisions_listed = True
            if event == "SYNC":
                known.clear()
                known.update((obj["metadata"]["uid"], obj) for obj in payload)
            elif event == "DELETED":
                known.pop(payload["metadata"]["uid"], None)
            else:
                known[payload["metadata"]["uid"]] = payload

    def _evaluate(self, target, now):
        if target.outcome is not None:
            return
        obj = target.obj
        target.timeline.record(now - target.started, replica_counts(target.kind, obj))
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
            new_pods = pods_with_label(target.pods.values(), target.revision["pod_label"])
            failure = self._decisive_failure(target, failures_of(new_pods, self.crashloop_restarts), now)
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
        stuck = [p for p in target.pods.values() if dig(p, "metadata", "labels", "controller-revision-hash") != value]
        failures = [f for f in failures_of(stuck, self.crashloop_restarts) if not f["transient"]]
        if not failures:
            return
        failure = failures[0]
        target.finish(now, FAILED, STUCK_REASON, (
            "%s cannot finish the rollback by itself: %s. With podManagementPolicy OrderedReady the StatefulSet "
            "controller waits for that pod to become Ready before it replaces it, which it never will "
            "(kubernetes/kubernetes#67250). Delete the pod (kubectl -n %s delete pod %s); the controller then "
            "recreates it from the restored template" % (
                target.ref, failure["message"], target.namespace, failure["pod"])), failure["pod"])

    @staticmethod
    def _refresh_revision(target):
        """Which revision is rolling out: its pods are the ones whose failures count."""
        if target.kind == "StatefulSet":
            found = statefulset_update_revision(target.obj)
        elif target.kind == "Deployment":
            found = deployment_new_replicaset(target.obj, target.revisions.values())
        else:
            found = daemonset_update_revision(target.obj, target.revisions.values())
        # Unknown until the controller has observed the generation and made the revision; until
        # then no pod counts as "new", so pods of an earlier revision can never fail this one.
        target.revision = found

    def _close_unfinished(self, deadline):
        now = self.clock()
        for target in self.targets:
            if target.outcome is not None:
                continue
            if now >= deadline:
                hint = "; " + target.transient_note if target.transient_note else self._hint(target)
                target.finish(now, TIMED_OUT, "Timeout", "rollout not complete after %gs: %s%s" % (
                    self.timeout, target.progress_message, hint))
            else:
                target.finish(now, IN_PROGRESS, None,
                              "stopped waiting because another target failed; last state: %s" % target.progress_message)

    @staticmethod
    def _hint(target):
        pods = target.pods.values()
        if target.revision:
            pods = pods_with_label(pods, target.revision["pod_label"])
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            hint = pod_pending_hint(pod)
            if hint:
                return "; " + hint
        return ""
