# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rollout state of Deployments, StatefulSets and DaemonSets, as pure functions.

Inputs are objects exactly as the API server returns them as JSON (camelCase). "Complete" follows
the rules of `kubectl rollout status`, so the module and kubectl never disagree about "done".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DEPLOYMENT_REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
PROGRESS_DEADLINE_REASON = "ProgressDeadlineExceeded"


def dig(obj, *path, **kwargs):
    """obj[path[0]][path[1]]..., or default (None) when any step is missing or null."""
    default = kwargs.get("default")
    for key in path:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def object_ref(kind, obj):
    """'Deployment ns/name' - how every message names an object."""
    return "%s %s/%s" % (kind, dig(obj, "metadata", "namespace", default="?"), dig(obj, "metadata", "name", default="?"))


def _progress(complete, message, failure_reason=None, failure_message=None):
    failure = None
    if failure_reason:
        failure = {"reason": failure_reason, "message": failure_message or failure_reason}
    return {"complete": complete, "message": message, "failure": failure}


def update_strategy_error(kind, obj):
    """Why a rollout of this object cannot be waited for (kubectl's rule), or None."""
    if kind == "Deployment":
        return None
    strategy = dig(obj, "spec", "updateStrategy", "type", default="RollingUpdate")
    if strategy != "RollingUpdate":
        return ("%s uses updateStrategy %s: its pods are only replaced when someone deletes them, so "
                "there is no rollout to wait for; switch it to RollingUpdate (or set wait: false)"
                % (object_ref(kind, obj), strategy))
    return None


def find_condition(obj, condition_type):
    for cond in dig(obj, "status", "conditions", default=[]):
        if cond.get("type") == condition_type:
            return cond
    return None


def condition_fingerprint(cond):
    """Identity of one condition state, to recognise a stale condition from before our patch."""
    if not cond:
        return None
    return (cond.get("type"), cond.get("status"), cond.get("reason"), cond.get("lastUpdateTime"),
            cond.get("lastTransitionTime"))


def _deployment_progress(obj, stale_conditions):
    generation = dig(obj, "metadata", "generation", default=0)
    observed = dig(obj, "status", "observedGeneration", default=0)
    if generation > observed:
        return _progress(False, "waiting for the deployment controller to observe generation %d" % generation)
    progressing = find_condition(obj, "Progressing")
    if (progressing and progressing.get("reason") == PROGRESS_DEADLINE_REASON
            and condition_fingerprint(progressing) not in stale_conditions):
        return _progress(False, "progress deadline exceeded", PROGRESS_DEADLINE_REASON,
                         progressing.get("message") or "the rollout made no progress within progressDeadlineSeconds")
    desired = dig(obj, "spec", "replicas", default=1)
    status = obj.get("status") or {}
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < desired:
        waiting = "%d of %d replicas updated" % (updated, desired)
    elif total > updated:
        waiting = "%d old replicas pending termination" % (total - updated)
    elif available < updated:
        waiting = "%d of %d updated replicas available" % (available, updated)
    else:
        return _progress(True, "%d of %d updated replicas available" % (available, updated))
    replica_failure = find_condition(obj, "ReplicaFailure")
    if (replica_failure and replica_failure.get("status") == "True"
            and condition_fingerprint(replica_failure) not in stale_conditions):
        # The ReplicaSet controller retries failed pod creations (an exceeded quota frees up as old pods
        # go), so kubectl keeps waiting; only a refusal no retry can pass fails here.
        text = "%s: %s" % (replica_failure.get("reason") or "ReplicaFailure", replica_failure.get("message") or "")
        if replica_failure_is_permanent(replica_failure.get("message")):
            return _progress(False, waiting, "ReplicaFailure", text + POD_SECURITY_HINT)
        waiting += "; ReplicaFailure (retried by the controller): " + text
    if dig(obj, "spec", "paused"):
        # kubectl would wait forever: a paused Deployment does not roll out until resumed.
        return _progress(False, waiting, "DeploymentPaused",
                         "the Deployment is paused (spec.paused), so the rollout cannot finish; resume it "
                         "(kubectl rollout resume) or unpause it in its manifest")
    return _progress(False, waiting)


def replica_failure_is_permanent(message):
    """Whether the ReplicaSet controller's pod-creation error cannot pass on a retry: Pod Security
    admission refuses the pod template itself, every time, until the template or the namespace's
    policy changes. Quotas, webhooks timing out and the like may pass later."""
    return "violates PodSecurity" in (message or "")


POD_SECURITY_HINT = (" (the namespace's Pod Security level refuses the new pods: every retry fails the same way "
                     "until the pod template or the namespace's pod-security.kubernetes.io/enforce label changes)")


def _statefulset_progress(obj):
    generation = dig(obj, "metadata", "generation", default=0)
    observed = dig(obj, "status", "observedGeneration", default=0)
    if observed == 0 or generation > observed:
        return _progress(False, "waiting for the statefulset controller to observe generation %d" % generation)
    status = obj.get("status") or {}
    desired = dig(obj, "spec", "replicas", default=1)
    ready = status.get("readyReplicas") or 0
    updated = status.get("updatedReplicas") or 0
    if ready < desired:
        return _progress(False, "%d of %d pods ready (%d updated)" % (ready, desired, updated))
    rolling = dig(obj, "spec", "updateStrategy", "rollingUpdate")
    if rolling is not None:
        # The API server defaults rollingUpdate.partition to 0, so this is the usual branch.
        partition = rolling.get("partition") or 0
        if updated < desired - partition:
            return _progress(False, "%d of %d pods updated" % (updated, desired - partition))
        return _progress(True, "%d of %d pods updated and ready" % (updated, desired - partition))
    if status.get("updateRevision") != status.get("currentRevision"):
        return _progress(False, "%d pods at revision %s, waiting for the rest" % (updated, status.get("updateRevision")))
    return _progress(True, "%d pods at revision %s" % (status.get("currentReplicas") or 0, status.get("currentRevision")))


def _daemonset_progress(obj):
    generation = dig(obj, "metadata", "generation", default=0)
    observed = dig(obj, "status", "observedGeneration", default=0)
    if generation > observed:
        return _progress(False, "waiting for the daemonset controller to observe generation %d" % generation)
    status = obj.get("status") or {}
    desired = status.get("desiredNumberScheduled") or 0
    updated = status.get("updatedNumberScheduled") or 0
    available = status.get("numberAvailable") or 0
    if updated < desired:
        return _progress(False, "%d of %d pods updated" % (updated, desired))
    if available < desired:
        return _progress(False, "%d of %d updated pods available" % (available, desired))
    return _progress(True, "%d of %d updated pods available" % (available, desired))


def workload_progress(kind, obj, stale_conditions=()):
    """dict(complete, message, failure) for one object.

    failure is dict(reason, message) when the workload itself reports a failure (Deployment
    conditions). stale_conditions: condition_fingerprint()s seen before our own patch; those
    describe an earlier rollout and are ignored.
    """
    if kind == "Deployment":
        return _deployment_progress(obj, stale_conditions)
    if kind == "StatefulSet":
        return _statefulset_progress(obj)
    if kind == "DaemonSet":
        return _daemonset_progress(obj)
    raise ValueError("unsupported kind %r" % kind)


def replica_counts(kind, obj):
    """The counts a timeline shows: dict(updated, ready, available, total)."""
    status = obj.get("status") or {}
    if kind == "DaemonSet":
        return {
            "updated": status.get("updatedNumberScheduled") or 0,
            "ready": status.get("numberReady") or 0,
            "available": status.get("numberAvailable") or 0,
            "total": status.get("currentNumberScheduled") or 0,
        }
    return {
        "updated": status.get("updatedReplicas") or 0,
        "ready": status.get("readyReplicas") or 0,
        "available": status.get("availableReplicas") or 0,
        "total": status.get("replicas") or 0,
    }


def generation_observed(obj):
    generation = dig(obj, "metadata", "generation", default=0)
    observed = dig(obj, "status", "observedGeneration", default=0)
    return observed > 0 and observed >= generation


def owned_by(child, owner):
    uid = dig(owner, "metadata", "uid")
    return any(ref.get("uid") == uid and ref.get("controller") for ref in dig(child, "metadata", "ownerReferences", default=[]))


def deployment_new_replicaset(deployment, replicasets):
    """The Deployment's current ReplicaSet as dict(name, revision, pod_label), or None.

    The deployment controller stamps the Deployment and its newest ReplicaSet with the same
    revision annotation once it has observed the current generation.
    """
    if not generation_observed(deployment):
        return None
    revision = dig(deployment, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION)
    if revision is None:
        return None
    for rs in replicasets:
        if not owned_by(rs, deployment):
            continue
        if dig(rs, "metadata", "annotations", DEPLOYMENT_REVISION_ANNOTATION) != revision:
            continue
        pod_hash = dig(rs, "metadata", "labels", POD_TEMPLATE_HASH_LABEL)
        if pod_hash is None:
            continue
        return {"name": rs["metadata"]["name"], "revision": revision,
                "pod_label": (POD_TEMPLATE_HASH_LABEL, pod_hash)}
    return None


def statefulset_update_revision(sts):
    """dict(name, revision, pod_label) of the revision pods are being updated to, or None."""
    if not generation_observed(sts):
        return None
    revision = dig(sts, "status", "updateRevision")
    if not revision:
        return None
    # StatefulSet pods carry the full ControllerRevision name in controller-revision-hash.
    return {"name": None, "revision": revision, "pod_label": (CONTROLLER_REVISION_HASH_LABEL, revision)}


def _without_patch_directive(template):
    template = dict(template or {})
    template.pop("$patch", None)
    return template


def daemonset_update_revision(ds, controller_revisions):
    """dict(name, revision, pod_label) of the ControllerRevision that holds the DaemonSet's current pod
    template, or None until it is seen.

    Not simply the highest revision number: the DaemonSet's own watch event for a new template can
    arrive before the revision made for it, and the newest one seen then is the previous template's.
    """
    if not generation_observed(ds):
        return None
    template = dig(ds, "spec", "template", default={})
    matching = [cr for cr in controller_revisions if owned_by(cr, ds)
                and _without_patch_directive(dig(cr, "data", "spec", "template")) == template]
    if not matching:
        return None
    current = max(matching, key=lambda cr: cr.get("revision") or 0)
    name = current["metadata"]["name"]
    # DaemonSet pods carry only the hash; the revision object is named <daemonset>-<hash>.
    pod_hash = dig(current, "metadata", "labels", CONTROLLER_REVISION_HASH_LABEL)
    if pod_hash is None:
        pod_hash = name[len(ds["metadata"]["name"]) + 1:]
    return {"name": None, "revision": name, "pod_label": (CONTROLLER_REVISION_HASH_LABEL, pod_hash)}


def label_selector_string(selector):
    """A LabelSelector object (matchLabels/matchExpressions) as a ?labelSelector= string."""
    parts = ["%s=%s" % (key, value) for key, value in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions", []) or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        if operator == "In":
            parts.append("%s in (%s)" % (key, ",".join(values)))
        elif operator == "NotIn":
            parts.append("%s notin (%s)" % (key, ",".join(values)))
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append("!" + key)
        else:
            raise ValueError("unsupported label selector operator %r" % operator)
    return ",".join(parts)


def selector_matches(selector, labels):
    """Whether a LabelSelector object selects an object with these labels (as the API server decides)."""
    labels = labels or {}
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in (selector or {}).get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        if operator == "In" and (key not in labels or labels[key] not in values):
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError("unsupported label selector operator %r" % operator)
    return True
