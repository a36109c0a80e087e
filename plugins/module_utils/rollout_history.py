# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A workload's rollout history and the undo of it, as `kubectl rollout history` and `kubectl rollout undo`
compute them (k8s.io/kubectl pkg/polymorphichelpers history.go and rollback.go), as pure functions.

- A Deployment's revisions are the ReplicaSets it controls, numbered by their deployment.kubernetes.io/revision
  annotation (an earlier number they served is in deployment.kubernetes.io/revision-history); the current one is
  the ReplicaSet whose pod template is the Deployment's (pod-template-hash aside).
- A StatefulSet's or DaemonSet's revisions are the ControllerRevisions it controls; each holds a strategic merge
  patch that replaces spec.template. The current one is the revision holding the workload's template.
- Undo without a revision goes to the second highest revision number; with one, to exactly that number.
- Undo refuses a paused Deployment, and skips ("skipped rollback") when the template already matches.
- A Deployment's undo writes the revision's template (without the pod-template-hash label) and its annotations,
  keeping the Deployment's own last-applied-configuration, revision, revision-history, desired-replicas,
  max-replicas and rollbackTo annotations (every other annotation becomes the revision's). A StatefulSet's or
  DaemonSet's undo writes the revision's patch and leaves the annotations alone.

Inputs are objects as the API server returns them as JSON.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    DEPLOYMENT_REVISION_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL,
    dig,
    object_ref,
    owned_by,
)

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
# The Deployment's annotations an undo keeps, and never copies from the ReplicaSet (kubectl's annotationsToSkip).
KEPT_ANNOTATIONS = frozenset([
    LAST_APPLIED_ANNOTATION,
    DEPLOYMENT_REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
])
PATCH_DIRECTIVE = "$patch"
SKIPPED = "skipped rollback"
ROLLED_BACK = "rolled back"
PAUSED_REASON = "DeploymentPaused"
NOT_FOUND_REASON = "RevisionNotFound"
NO_HISTORY_REASON = "NoRolloutHistory"


class UndoRefused(Exception):
    """Why an undo cannot be done, in kubectl's words where kubectl has them; reason is machine-readable."""

    def __init__(self, reason, message):
        super(UndoRefused, self).__init__(message)
        self.reason = reason
        self.message = message


def _normalized(value):
    """value without nulls, empty maps and empty lists, as apimachinery's semantic equality sees no difference
    between an unset field and an empty one."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _normalized(item)
            if item is not None and item != {} and item != []:
                out[key] = item
        return out
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    return value


def without_hash_label(template):
    """A pod template without the pod-template-hash label the deployment controller adds to its ReplicaSets."""
    template = copy.deepcopy(template or {})
    labels = dig(template, "metadata", "labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return template


def templates_equal_ignoring_hash(first, second):
    """kubectl's equalIgnoreHash: the same pod template, pod-template-hash aside."""
    return _normalized(without_hash_label(first)) == _normalized(without_hash_label(second))


def template_images(template):
    """dict(container name -> image) of a pod template's init containers and containers."""
    spec = dig(template, "spec", default={})
    images = {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            images[container.get("name")] = container.get("image")
    return images


def revision_number(obj):
    """A ReplicaSet's revision as kubectl reads it: 0 without the annotation, None when it is no number."""
    value = dig(obj, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _revision_history(obj):
    value = dig(obj, "metadata", "annotations", REVISION_HISTORY_ANNOTATION) or ""
    numbers = []
    for part in value.split(","):
        try:
            numbers.append(int(part))
        except ValueError:
            continue
    return numbers


def _entry(number, obj, template, current):
    return {
        "revision": number,
        "change_cause": dig(obj, "metadata", "annotations", CHANGE_CAUSE_ANNOTATION),
        "images": template_images(template),
        "created": dig(obj, "metadata", "creationTimestamp"),
        "current": current,
        "name": dig(obj, "metadata", "name"),
        "template": template,
    }


def deployment_history(deployment, replicasets):
    """The Deployment's revisions, oldest first: one entry per ReplicaSet it controls that has a revision number
    (a ReplicaSet whose annotation is no number is left out, as kubectl leaves it out with a warning).

    Each entry: revision, change_cause, images, created, current, name (of the ReplicaSet), template (its pod
    template without pod-template-hash), revision_history (the earlier numbers it served), object (the
    ReplicaSet, for undo). current: the ReplicaSet with the Deployment's template - the oldest, when several have
    it (kubectl's findNewReplicaSet)."""
    owned = [rs for rs in replicasets if owned_by(rs, deployment)]
    template = dig(deployment, "spec", "template", default={})
    current_uid = None
    for rs in sorted(owned, key=lambda rs: (dig(rs, "metadata", "creationTimestamp") or "", rs["metadata"]["name"])):
        if templates_equal_ignoring_hash(dig(rs, "spec", "template"), template):
            current_uid = rs["metadata"]["uid"]
            break
    entries = {}
    for rs in owned:
        number = revision_number(rs)
        if number is None:
            continue
        entry = _entry(number, rs, without_hash_label(dig(rs, "spec", "template")),
                       rs["metadata"]["uid"] == current_uid)
        entry["revision_history"] = _revision_history(rs)
        entry["object"] = rs
        entries[number] = entry   # as kubectl's map: one entry per number
    return [entries[number] for number in sorted(entries)]


def controller_revision_template(revision):
    """The pod template a ControllerRevision restores: its patch replaces spec.template."""
    template = dict(dig(revision, "data", "spec", "template", default={}))
    template.pop(PATCH_DIRECTIVE, None)
    return template


def controller_revision_patch(workload):
    """What a ControllerRevision of the workload's current template holds (the controllers' getPatch)."""
    template = dict(dig(workload, "spec", "template", default={}))
    template[PATCH_DIRECTIVE] = "replace"
    return {"spec": {"template": template}}


def controller_revision_matches(workload, revision):
    """kubectl's statefulsetMatch / daemonSetMatch: the revision's patch is the one of the current template."""
    return _normalized(controller_revision_patch(workload)) == _normalized(revision.get("data") or {})


def controller_history(workload, revisions):
    """A StatefulSet's or DaemonSet's revisions, oldest first: the ControllerRevisions it controls.

    Each entry as deployment_history's (no revision_history; object is the ControllerRevision); current is the
    revision whose patch is the workload's template (the newest such, should there be several)."""
    owned = [cr for cr in revisions if owned_by(cr, workload)]
    entries = {}
    for cr in owned:
        number = cr.get("revision") or 0
        entry = _entry(number, cr, controller_revision_template(cr), controller_revision_matches(workload, cr))
        entry["object"] = cr
        entries[number] = entry
    ordered = [entries[number] for number in sorted(entries)]
    current = [entry for entry in ordered if entry["current"]]
    for entry in current[:-1]:
        entry["current"] = False
    return ordered


def history(kind, workload, owned_objects):
    """deployment_history or controller_history by kind."""
    if kind == "Deployment":
        return deployment_history(workload, owned_objects)
    return controller_history(workload, owned_objects)


def public_entry(entry, with_template=True):
    """A history entry as the modules return it (without the API object)."""
    entry = dict((key, value) for key, value in entry.items() if key != "object")
    if not with_template:
        entry.pop("template", None)
    return entry


def _listing(entries):
    return ", ".join(str(entry["revision"]) for entry in entries) or "none"


def choose_revision(kind, workload, entries, to_revision=None, to_image=None):
    """The history entry an undo goes to, as kubectl rollout undo resolves --to-revision (0 or None: the
    second highest revision number), or the newest revision that ran the image to_image. Raises UndoRefused."""
    ref = object_ref(kind, workload)
    if to_image:
        ran = [entry for entry in entries if to_image in entry["images"].values()]
        if not ran:
            raise UndoRefused(NOT_FOUND_REASON, "%s: no revision in its history ran the image %s (revisions: %s)"
                              % (ref, to_image, "; ".join("%d: %s" % (entry["revision"], ", ".join(
                                  sorted(set(entry["images"].values())))) for entry in entries) or "none"))
        return ran[-1]
    to_revision = to_revision or 0
    if to_revision < 0:
        raise UndoRefused(NOT_FOUND_REASON, "%s: unable to find specified revision %d in history" % (ref, to_revision))
    if to_revision:
        for entry in entries:
            if entry["revision"] == to_revision:
                return entry
        raise UndoRefused(NOT_FOUND_REASON, "%s: unable to find specified revision %d in history (revisions: %s%s)"
                          % (ref, to_revision, _listing(entries),
                             "; revisionHistoryLimit is %s" % dig(workload, "spec", "revisionHistoryLimit")
                             if dig(workload, "spec", "revisionHistoryLimit") is not None else ""))
    if len(entries) < 2:
        if kind == "Deployment":
            raise UndoRefused(NO_HISTORY_REASON, "%s: no rollout history found for deployment %r (revisions: %s)"
                              % (ref, workload["metadata"]["name"], _listing(entries)))
        raise UndoRefused(NO_HISTORY_REASON, "%s: no last revision to roll back to (revisions: %s)"
                          % (ref, _listing(entries)))
    return entries[-2]


def undo_annotations(deployment, replicaset):
    """The Deployment's annotations after an undo to replicaset (kubectl's rule): its own KEPT_ANNOTATIONS, and
    every other annotation of the ReplicaSet."""
    own = dig(deployment, "metadata", "annotations", default={})
    annotations = dict((key, value) for key, value in own.items() if key in KEPT_ANNOTATIONS)
    annotations.update((key, value) for key, value in dig(replicaset, "metadata", "annotations", default={}).items()
                       if key not in KEPT_ANNOTATIONS)
    return annotations


def plan_undo(kind, workload, entries, to_revision=None, to_image=None):
    """What an undo of workload does. Returns dict(entry, action, changed, patch, content_type, template,
    annotations); patch is None when nothing is to be written. Raises UndoRefused (the paused Deployment, the
    revision that is not there), in kubectl's order: the revision first, then paused, then whether it matches.

    The patch is conditional on the workload's resourceVersion, so a concurrent change answers 409."""
    entry = choose_revision(kind, workload, entries, to_revision, to_image)
    number = entry["revision"]
    resource_version = dig(workload, "metadata", "resourceVersion")
    if kind == "Deployment":
        if dig(workload, "spec", "paused"):
            raise UndoRefused(PAUSED_REASON, "%s: you cannot rollback a paused deployment; resume it first with "
                              "'kubectl rollout resume' and try again" % object_ref(kind, workload))
        if templates_equal_ignoring_hash(entry["template"], dig(workload, "spec", "template")):
            return _skipped(entry, workload)
        annotations = undo_annotations(workload, entry["object"])
        patch = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "replace", "path": "/spec/template", "value": entry["template"]},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ]
        return {"entry": entry, "action": ROLLED_BACK, "changed": True, "patch": patch,
                "content_type": "application/json-patch+json", "template": entry["template"],
                "annotations": annotations}
    if controller_revision_matches(workload, entry["object"]):
        return _skipped(entry, workload)
    patch = copy.deepcopy(entry["object"].get("data") or {})
    patch.setdefault("metadata", {})["resourceVersion"] = resource_version
    return {"entry": entry, "action": ROLLED_BACK, "changed": True, "patch": patch,
            "content_type": "application/strategic-merge-patch+json", "template": entry["template"],
            "annotations": dig(workload, "metadata", "annotations", default={})}


def _skipped(entry, workload):
    return {"entry": entry, "action": "%s (current template already matches revision %d)" % (SKIPPED, entry["revision"]),
            "changed": False, "patch": None, "content_type": None, "template": entry["template"],
            "annotations": dig(workload, "metadata", "annotations", default={})}
