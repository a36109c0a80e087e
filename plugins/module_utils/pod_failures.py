# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Classify pods of a new revision: is one of them failing in a way that will not heal itself?

Pure functions over pod objects as the API returns them (camelCase JSON).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils.transient_failures import TRANSIENT, permanence

# Waiting reasons that mean the new revision cannot start as it is - unless transient_failures says
# the kubelet's message describes something that heals by itself (a registry briefly down, a
# ConfigMap not created yet); those get a grace in the waiter.
FATAL_WAITING_REASONS = frozenset([
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
])
CRASH_LOOP_REASON = "CrashLoopBackOff"
DEFAULT_CRASHLOOP_RESTARTS = 2


def _container_statuses(pod):
    status = pod.get("status") or {}
    for key, label in (("initContainerStatuses", "init container"), ("containerStatuses", "container")):
        for cstatus in status.get(key) or []:
            yield label, cstatus


def _pod_name(pod):
    return (pod.get("metadata") or {}).get("name", "?")


def _last_exit(cstatus):
    terminated = ((cstatus.get("lastState") or {}).get("terminated")) or {}
    if not terminated:
        return ""
    return ", last exit code %s (%s)" % (terminated.get("exitCode"), terminated.get("reason") or "terminated")


def pod_failure(pod, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS):
    """dict(reason, pod, container, message, transient, key) of the pod's first failing container, or None.

    transient: the reason may heal by itself (see transient_failures); key identifies the container
    (pod uid, container name) so the waiter can time its grace. crashloop_restarts: a container in
    CrashLoopBackOff counts as failed once it has restarted this many times (0: at the first one).
    """
    failures = pod_failures(pod, crashloop_restarts)
    return failures[0] if failures else None


def pod_failures(pod, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS):
    """Every failing container of the pod, as pod_failure describes one, in status order."""
    found = []
    for label, cstatus in _container_statuses(pod):
        name = cstatus.get("name", "?")
        state = cstatus.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason in FATAL_WAITING_REASONS:
            message = waiting.get("message") or reason
            found.append(_failure(pod, label, name, reason, message,
                                  transient=permanence(reason, waiting.get("message")) == TRANSIENT))
            continue
        if reason == CRASH_LOOP_REASON:
            restarts = cstatus.get("restartCount") or 0
            if restarts >= crashloop_restarts:
                found.append(_failure(pod, label, name, reason,
                                      "restarted %d times%s" % (restarts, _last_exit(cstatus))))
    # A container that exited with an error is restarted: workload pod templates allow only restartPolicy
    # Always, so it either comes back or ends in CrashLoopBackOff above.
    return found


def _failure(pod, label, container, reason, detail, transient=False):
    metadata = pod.get("metadata") or {}
    return {
        "reason": reason,
        "pod": _pod_name(pod),
        "container": container,
        "message": "pod %s %s %s: %s: %s" % (_pod_name(pod), label, container, reason, detail),
        "transient": transient,
        "key": (metadata.get("uid") or _pod_name(pod), container),
    }


def pod_pending_hint(pod):
    """A short note on why a pod is not running yet (unschedulable, still pulling...), or None."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return "pod %s not scheduled: %s" % (_pod_name(pod), cond.get("message") or cond.get("reason") or "pending")
    for label, cstatus in _container_statuses(pod):
        waiting = ((cstatus.get("state") or {}).get("waiting")) or {}
        if waiting.get("reason"):
            return "pod %s %s %s: %s" % (_pod_name(pod), label, cstatus.get("name", "?"), waiting["reason"])
    return None


class PodSummary(object):
    """What the waiter keeps of a pod: a full pod is kilobytes of JSON, and a 1,000-replica rollout
    delivers thousands of them. Failures and the pending hint are worked out once, when the pod's event
    arrives; a pod on its way out (deletionTimestamp) has no failures: it no longer decides the rollout."""

    __slots__ = ("uid", "name", "labels", "failures", "troubled", "hint")

    def __init__(self, pod, crashloop_restarts=DEFAULT_CRASHLOOP_RESTARTS):
        metadata = pod.get("metadata") or {}
        self.uid = metadata.get("uid") or _pod_name(pod)
        self.name = _pod_name(pod)
        self.labels = metadata.get("labels") or {}
        leaving = metadata.get("deletionTimestamp")
        self.failures = [] if leaving else pod_failures(pod, crashloop_restarts)
        # Failing, or on its way there (a crash loop below crashloop_restarts): worth following closely.
        self.troubled = bool(self.failures) or (not leaving and bool(pod_failures(pod, 0)))
        self.hint = pod_pending_hint(pod)

    def has_label(self, label):
        key, value = label
        return self.labels.get(key) == value
