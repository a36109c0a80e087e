# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wait for rollouts with watches: every target's workload and pods stream into one queue, and
each event re-evaluates that target. Nothing sleeps and polls, so the result is known within
one event of the rollout finishing, and many targets wait at the same time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import time

from ansible_collections.kubedev.devloop.plugins.module_utils.k8s_errors import Action, ApiError, KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import (
    DEFAULT_CRASHLOOP_RESTARTS,
    first_pod_failure,
    pod_pending_hint,
    pods_with_label,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    DEPLOYMENT_REVISION_ANNOTATION,
    WORKLOAD_KINDS,
    daemonset_update_revision,
    deployment_new_replicaset,
    dig,
    generation_observed,
    label_selector_string,
    replica_counts,
    statefulset_update_revision,
    workload_progress,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.timeline import Timeline
from ansible_collections.kubedev.devloop.plugins.module_utils.watch_stream import WatchStream

COMPLETE = "complete"
FAILED = "failed"
TIMED_OUT = "timed_out"
IN_PROGRESS = "in_progress"  # waiting stopped early because another target failed
LOOKUP_RETRY_SECONDS = 0.5   # retry of a failed ReplicaSet/ControllerRevision lookup (API hiccup)


class RolloutTarget(object):
    """One workload to wait for, and everything learned about it while waiting."""

    def __init__(self, kind, obj, stale_conditions=()):
        self.kind = kind
        self.obj = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.selector = label_selector_string(dig(obj, "spec", "selector"))
        self.stale_conditions = frozenset(stale_conditions)
        self.pods = {}
        self.revision = None          # dict(name, revision, pod_label) of the revision rolling out
        self._revision_key = None     # what the last successful lookup was based on
        self.lookup_pending = False
        self.progress_message = "waiting for the first status"
        self.outcome = None
        self.timeline = Timeline()
        self.reconnects = 0
        self.started = None
        self.finished = None

    @property
    def ref(self):
        return "%s %s/%s" % (self.kind, self.namespace, self.name)

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


class RolloutWaiter(object):
    """Wait for all targets; stop_on_failure ends the whole wait at the first failure (fail fast)."""

    def __init__(self, client, targets, timeout, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS,
                 stop_on_failure=True, clock=time.monotonic):
        self.client = client
        self.targets = list(targets)
        self.timeout = timeout
        self.crashloop_restarts = crashloop_restarts
        self.stop_on_failure = stop_on_failure
        self.clock = clock
        self._events = queue.Queue()

    def _sink(self, key, event, payload):
        self._events.put((key, event, payload))

    def _streams(self):
        streams = []
        for index, target in enumerate(self.targets):
            api_path, resource = WORKLOAD_KINDS[target.kind]
            streams.append(WatchStream(
                self.client, "%s/namespaces/%s/%s" % (api_path, target.namespace, resource),
                Action("watch", resource, "apps", target.namespace), (index, "workload"), self._sink,
                field_selector="metadata.name=" + target.name))
            streams.append(WatchStream(
                self.client, "/api/v1/namespaces/%s/pods" % target.namespace,
                Action("watch", "pods", "", target.namespace), (index, "pods"), self._sink,
                label_selector=target.selector))
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
                wait = deadline - now
                if any(t.lookup_pending and t.outcome is None for t in self.targets):
                    wait = min(wait, LOOKUP_RETRY_SECONDS)
                try:
                    (index, stream_kind), event, payload = self._events.get(timeout=wait)
                except queue.Empty:
                    for target in self.targets:
                        if target.lookup_pending:
                            self._evaluate(target, self.clock())
                    continue
                target = self.targets[index]
                self._apply(target, stream_kind, event, payload, self.clock())
                self._evaluate(target, self.clock())
        finally:
            for stream in streams:
                stream.stop()
        self._close_unfinished(deadline)
        return self.targets

    def _settled(self):
        if all(t.outcome is not None for t in self.targets):
            return True
        return self.stop_on_failure and any(t.outcome and t.outcome["status"] == FAILED for t in self.targets)

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
            elif event == "SYNC":
                target.obj = payload[0]
            else:
                target.obj = payload
        elif event == "SYNC":
            target.pods = dict((p["metadata"]["uid"], p) for p in payload)
        elif event == "DELETED":
            target.pods.pop(payload["metadata"]["uid"], None)
        else:
            target.pods[payload["metadata"]["uid"]] = payload

    def _evaluate(self, target, now):
        if target.outcome is not None:
            return
        obj = target.obj
        target.timeline.record(now - target.started, replica_counts(target.kind, obj))
        self._refresh_revision(target, now)
        if target.outcome is not None:
            return
        progress = workload_progress(target.kind, obj, target.stale_conditions)
        target.progress_message = progress["message"]
        if progress["failure"]:
            target.finish(now, FAILED, progress["failure"]["reason"], progress["failure"]["message"])
        elif progress["complete"]:
            target.finish(now, COMPLETE, message=progress["message"])
        elif target.revision:
            new_pods = pods_with_label(target.pods.values(), target.revision["pod_label"])
            failure = first_pod_failure(new_pods, self.crashloop_restarts)
            if failure:
                target.finish(now, FAILED, failure["reason"], failure["message"], failure["pod"])

    def _refresh_revision(self, target, now):
        """Learn which revision is rolling out (its pods are the ones whose failures count)."""
        obj = target.obj
        if target.kind == "StatefulSet":
            target.revision = statefulset_update_revision(obj) or target.revision
            return
        if not generation_observed(target.kind, obj):
            return
        if target.kind == "Deployment":
            key = dig(obj, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION)
            resource, pick = "replicasets", deployment_new_replicaset
        else:
            key = dig(obj, "metadata", "generation")
            resource, pick = "controllerrevisions", daemonset_update_revision
        if key is None or (key == target._revision_key and not target.lookup_pending):
            return
        try:
            listing = self.client.list("/apis/apps/v1", resource, target.namespace, label_selector=target.selector)
        except ApiError as exc:
            if exc.status in (401, 403):
                target.finish(now, FAILED, "Forbidden" if exc.status == 403 else "Unauthorized", str(exc))
                return
            target.lookup_pending = True
            return
        except KubeError:
            target.lookup_pending = True   # API unreachable for a moment: try again shortly
            return
        found = pick(obj, listing.get("items") or [])
        target.lookup_pending = found is None
        if found is not None:
            target.revision = found
            target._revision_key = key

    def _close_unfinished(self, deadline):
        now = self.clock()
        for target in self.targets:
            if target.outcome is not None:
                continue
            if now >= deadline:
                target.finish(now, TIMED_OUT, "Timeout", "rollout not complete after %gs: %s%s" % (
                    self.timeout, target.progress_message, self._hint(target)))
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
