# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which pods the waiter looks at: only those of the revisions rolling out, and only when they stall.

Only a new revision's pods can fail a rollout, and its completion is read from the workload's status.
A healthy rollout changes its replica counts every second or so and needs no pod at all: a 1,000-replica
one would otherwise send some 5,000 pod events of kilobytes each, and only reading them costs more CPU
than kubectl spends on the whole rollout. So:

- When a rollout's counts have not changed for STALL_SECONDS, the waiter asks for its new revision's pods
  once (a probe). Further probes follow while the stall lasts, each interval twice the last, up to
  MAX_PROBE_INTERVAL; progress starts the intervals afresh. A probe also takes the rollouts of its
  namespace whose probe is due within PROBE_JOIN_WINDOW.
- A probe first asks for the pods as `kubectl get pods` prints them (a Table: name, ready, STATUS,
  restarts; some 200 bytes a pod against 3-4 KB in full), and lists them in full (gzip-compressed) only
  when a STATUS is not one of a healthy pod's (worth_listing): a 1,000-replica rollout pausing while
  pods are scheduled costs a few milliseconds a probe, not the 70 ms of decoding 1,000 pods.
- A pod in trouble there (failing, or crash-looping below crashloop_restarts) decides the rollout at once
  or is followed: from then on the revision's pods are watched, to time a transient failure's grace or
  count restarts.

The probes and the watch of a namespace select `<hash label> in (<new revisions>)` - plus the workload's
own selector when one target is alone there - so neither the old revision's pods nor a busy namespace's
other pods are listed, sent or kept. The watch starts when a revision needs it and starts again (list +
watch) when another one does, at least RESTART_GAP apart: 50 Deployments failing together make a few
restarts, not 50. Of what the watch sends, PodSieve lets only what can matter be decoded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import (
    CRASH_LOOP_REASON,
    FATAL_WAITING_REASONS,
    pod_failures,
)

RESTART_GAP = 0.5
# A 1,000-replica rollout on two cores goes up to 5 s without a count changing while 250 pods are being
# scheduled; a failing one stops at once. A probe is cheap, so the first comes early.
STALL_SECONDS = 2.0
MAX_PROBE_INTERVAL = 8.0
# A probe of a namespace also lists the pods of the rollouts whose own probe would follow within this: 50
# Deployments stalling one after another (the controller syncs a few at a time) share lists.
PROBE_JOIN_WINDOW = STALL_SECONDS / 2
# Past this many revisions the selector would get long; the namespace's (or the workload's) pods then.
MAX_SELECTED_REVISIONS = 100


def probe_due(target):
    """When the target's new pods are to be listed next (inf: not while it makes progress, or is followed)."""
    if target.outcome is not None or target.watch_pods or not target.revision or target.last_progress is None:
        return float("inf")
    return max(target.last_progress, target.last_probe or target.last_progress) + target.probe_interval


def probed(target, now):
    """Note a probe of the target: the next one, should the stall last, comes after twice the interval."""
    target.last_probe = now
    target.probe_interval = min(target.probe_interval * 2, MAX_PROBE_INTERVAL)
    if target.outcome is None and any(pod.troubled for pod in target.pods.values()
                                      if pod.has_label(target.revision["pod_label"])):
        target.watch_pods = True


class PodWatch(object):
    """The narrowed pod probes and watch of one namespace's targets (`members`: their indexes in the waiter)."""

    def __init__(self, namespace, members, alone_selector=None):
        self.namespace = namespace
        self.members = members
        self.alone_selector = alone_selector   # the workload's selector when one target is alone here
        self.labels = frozenset()               # the (key, value) revision labels the running watch selects
        self.everything = False                 # the running watch is not narrowed: it sees every pod
        self.stream = None
        self.started = None

    def wanted(self, targets):
        """The revision labels of the members still waited for whose pods are followed."""
        return frozenset(t.revision["pod_label"] for t in (targets[i] for i in self.members)
                         if t.outcome is None and t.revision and t.watch_pods)

    def restart_due(self, wanted, now):
        """None when the running watch already sees these pods; else when to (re)start it."""
        if not wanted or self.everything or wanted <= self.labels:
            return None
        if self.stream is None:
            return now
        return max(now, self.started + RESTART_GAP)

    def selector(self, labels):
        """The label selector for these revision labels, and whether it is narrowed to them."""
        keys = set(key for key, _value in labels)
        if len(keys) != 1 or len(labels) > MAX_SELECTED_REVISIONS:
            return self.alone_selector, False
        narrowed = "%s in (%s)" % (keys.pop(), ",".join(sorted(value for _key, value in labels)))
        return (self.alone_selector + "," + narrowed if self.alone_selector else narrowed), True


# STATUS values `kubectl get pods` prints for a pod on its healthy way (pkg/printers printPod): the pod phase,
# a container being created or initialized, "Init:<done>/<all>", "Terminating". Not "Completed": a workload's
# container that exited is restarted, and a later container's failure may hide behind that word.
HEALTHY_STATUSES = frozenset(["Pending", "Running", "ContainerCreating", "PodInitializing", "Terminating",
                              "SchedulingGated"])
_INIT_PROGRESS = re.compile(r"^Init:[0-9]+/[0-9]+$")


def worth_listing(table):
    """Whether a probe's Table answer shows a pod worth reading in full: one whose STATUS is not a healthy
    pod's (a failure reason, "Error", anything unknown), or an answer that is not a Table it can read.

    STATUS names one container's reason - the first one waiting or terminated - so a failing container
    behind one still being created is not named. The kubelet starts a pod's containers one after the
    other, so that lasts only until the earlier container has started: a probe later at most, while a
    reason it names is never hidden (tests/integration/test_pod_table_probe.py)."""
    if table.get("kind") != "Table":
        return True
    names = [column.get("name") for column in table.get("columnDefinitions") or []]
    if "Status" not in names:
        return True
    status = names.index("Status")
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        value = cells[status] if status < len(cells) else None
        if value not in HEALTHY_STATUSES and not _INIT_PROGRESS.match(str(value)):
            return True
    return False


# The waiting reasons pod_failures acts on: a pod event that mentions none of them cannot fail a rollout.
TELLING_WORDS = tuple(sorted(reason.encode("ascii") for reason in FATAL_WAITING_REASONS | set([CRASH_LOOP_REASON])))
_UID = b'"uid":"'


def _uid_of(line):
    """The pod's uid in a watch event's raw JSON: the API server writes ObjectMeta's uid before the
    ownerReferences. Were it otherwise, the owner's uid would be taken: every pod of a ReplicaSet with a
    failing pod would be decoded - slower, never wrong."""
    start = line.find(_UID)
    if start < 0:
        return None
    start += len(_UID)
    return line[start:line.find(b'"', start)]


class PodSieve(object):
    """Which pod events a watch thread decodes (WatchStream's prefilter).

    Nearly every event of a rollout is a pod being scheduled, started or getting ready, which cannot fail
    it; decoding thousands of kilobyte-sized pods would cost more CPU than kubectl spends on the whole
    rollout. Decoded are the events that mention a failing reason (TELLING_WORDS), and every later event of
    a pod that once did, so that its recovery (a transient failure healing) or its deletion is seen.
    Deletions and lists are always decoded. It lives in the watch thread alone: nothing to lock.
    """

    def __init__(self):
        self.uids = set()     # of the pods whose every event counts

    def listed(self, pods):
        for pod in pods:
            if pod_failures(pod, crashloop_restarts=0):
                self.uids.add(((pod.get("metadata") or {}).get("uid") or "").encode("ascii"))

    def wants(self, line):
        uid = _uid_of(line)
        if uid in self.uids:
            return True
        if any(word in line for word in TELLING_WORDS):
            self.uids.add(uid)
            return True
        return False
