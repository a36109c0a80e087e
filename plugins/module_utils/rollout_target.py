# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One workload being waited for (RolloutTarget) and the outcomes a wait can have."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    dig,
    label_selector_string,
    selector_matches,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.timeline import Timeline

COMPLETE = "complete"
FAILED = "failed"
TIMED_OUT = "timed_out"
IN_PROGRESS = "in_progress"  # waiting stopped early because another target failed


class RolloutTarget(object):
    """One workload to wait for, and everything learned about it while waiting."""

    def __init__(self, kind, obj, stale_conditions=(), restoring=False):
        self.kind = kind
        self.restoring = restoring   # a rollback: watch for a StatefulSet the controller will not finish
        self.obj = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.uid = dig(obj, "metadata", "uid")
        self.selector_object = dig(obj, "spec", "selector", default={})
        self.selector = label_selector_string(self.selector_object)
        self.stale_conditions = frozenset(stale_conditions)
        self.pods = {}               # uid -> PodSummary of a pod the workload selects
        self.failing = {}            # the same, only pods with a failing container
        self.revisions = {}          # uid -> ReplicaSet / ControllerRevision the workload owns
        self.revisions_listed = kind == "StatefulSet"   # its status names its revision: nothing to list
        self.revision = None         # dict(name, revision, pod_label) of the revision rolling out
        self.last_progress = None    # when the replica counts last changed
        self.last_probe = None       # when its new pods were last listed (pod_watch.py: a stalled rollout)
        self.probe_interval = None   # how long a stall lasts before the next such list
        self.watch_pods = False      # a pod of it was in trouble: from then on its new pods are watched
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

    @property
    def needs_every_pod(self):
        """A StatefulSet being rolled back is checked for a stuck pod of the failed revision
        (waiter._check_stuck_statefulset); every other target needs only its new revision's pods."""
        return self.restoring and self.kind == "StatefulSet"

    def selects(self, labels):
        return selector_matches(self.selector_object, labels)

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
