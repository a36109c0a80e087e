# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What kubedev.devloop.rollout_history and kubedev.devloop.rollout_undo do: read the history; for an undo
resolve the revision of every target, dry-run every patch, patch, and wait with the shared waiter.

The rules (which revision, what is written, when it is skipped or refused) are rollout_history.py's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError, KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import (
    CONTROLLER_REVISIONS,
    REPLICASETS,
    WORKLOADS,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    condition_fingerprint,
    dig,
    find_condition,
    label_selector_string,
    object_ref,
    update_strategy_error,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_history import (
    LAST_APPLIED_ANNOTATION,
    UndoRefused,
    history,
    plan_undo,
    public_entry,
    template_images,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import COMPLETE, RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import (
    TARGET_ARG_SPEC,
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_REQUIRED_ONE_OF,
    check_task_options,
    fetch_targets,
    parallel_map,
    target_problems,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter

FIELD_MANAGER = "kubedev-rollout-undo"
MAX_PATCH_ATTEMPTS = 5
SKIPPED = "skipped"
# Where each kind keeps its revisions.
HISTORY_RESOURCES = {"Deployment": REPLICASETS, "StatefulSet": CONTROLLER_REVISIONS, "DaemonSet": CONTROLLER_REVISIONS}


def read_history(client, kind, workload):
    """The workload's history entries (rollout_history.history), from one list of its ReplicaSets or
    ControllerRevisions selected by its selector (kubectl lists them the same way)."""
    selector = label_selector_string(dig(workload, "spec", "selector", default={}))
    listing = client.list(HISTORY_RESOURCES[kind], workload["metadata"]["namespace"], label_selector=selector or None)
    return history(kind, workload, listing.get("items") or [])


# --- rollout_history -----------------------------------------------------------------------------

HISTORY_ARG_SPEC = dict(TARGET_ARG_SPEC, revision=dict(type="int"))
HISTORY_MUTUALLY_EXCLUSIVE = TARGET_MUTUALLY_EXCLUSIVE
HISTORY_REQUIRED_ONE_OF = TARGET_REQUIRED_ONE_OF
UNDO_ARG_SPEC = dict(
    to_revision=dict(type="int"),
    to_image=dict(type="str"),
    wait=dict(type="bool", default=True),
)


def check_history_request(params):
    problems = target_problems(params)
    if params.get("revision") is not None and params["revision"] <= 0:
        problems.append("revision must be a positive revision number, got %d" % params["revision"])
    return problems


def show_history(client, params):
    """The rollout_history result: every target's revisions (or the one of params['revision'])."""
    kind = params["kind"]
    objects = fetch_targets(client, kind, params["namespace"], params.get("name"), params.get("label_selectors"))
    entries = parallel_map(lambda obj: read_history(client, kind, obj), objects)
    targets, missing = [], []
    for obj, revisions in zip(objects, entries):
        current = [entry["revision"] for entry in revisions if entry["current"]]
        if params.get("revision") is not None:
            revisions = [entry for entry in revisions if entry["revision"] == params["revision"]]
            if not revisions:
                missing.append("%s: unable to find the specified revision %d" % (object_ref(kind, obj), params["revision"]))
        targets.append({"kind": kind, "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                        "current_revision": current[0] if current else None,
                        "revisions": [public_entry(entry) for entry in revisions]})
    result = {"changed": False, "targets": targets}
    if len(targets) == 1:
        result.update(revisions=targets[0]["revisions"], current_revision=targets[0]["current_revision"])
    if missing:
        result.update(failed=True, msg="; ".join(missing))
    return result


# --- rollout_undo --------------------------------------------------------------------------------


def check_undo_request(params):
    """Messages for invalid input that needs no cluster to detect."""
    problems = check_task_options(params)
    if params.get("to_revision") is not None and params["to_revision"] < 0:
        problems.append("to_revision must be 0 (the previous revision) or a revision number, got %d"
                        % params["to_revision"])
    if params.get("to_revision") is not None and params.get("to_image") is not None:
        problems.append("to_revision and to_image are mutually exclusive: give one of them")
    if params.get("to_image") is not None and not str(params["to_image"]).strip():
        problems.append("to_image is empty: name the image a revision ran")
    return problems


def _stale_conditions(obj):
    """Deployment conditions as they were before the undo: they describe an earlier rollout."""
    return [condition_fingerprint(find_condition(obj, t)) for t in ("Progressing", "ReplicaFailure")
            if find_condition(obj, t)]


def _pause(attempt):
    time.sleep(0.05 * attempt * (0.5 + random.random()))


class UndoRun(object):
    """One workload through the undo."""

    def __init__(self, kind, obj):
        self.kind = kind
        self.obj = obj
        self.before = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.plan = None
        self.from_revision = None
        self.refused = None          # UndoRefused
        self.patch_error = None
        self.patch_attempts = 0
        self.written = False
        self.would_change = False    # check mode: the dry run of a change passed
        self.wait = None

    @property
    def ref(self):
        return "%s %s/%s" % (self.kind, self.namespace, self.name)

    def resolve(self, client, params):
        """Read the history and plan the undo of the object as read now; UndoRefused is kept in refused."""
        entries = read_history(client, self.kind, self.obj)
        current = [entry["revision"] for entry in entries if entry["current"]]
        self.from_revision = current[0] if current else None
        try:
            self.plan = plan_undo(self.kind, self.obj, entries, params.get("to_revision"), params.get("to_image"))
            self.refused = None
        except UndoRefused as exc:
            self.plan, self.refused = None, exc

    def patch(self, client, params, dry_run):
        """Send the planned patch, conditional on the resourceVersion read; on 409 read again, plan again and
        retry. Returns False (patch_error or refused set) when it did not go through."""
        resource = WORKLOADS[self.kind]
        for attempt in range(1, MAX_PATCH_ATTEMPTS + 1):
            self.patch_attempts = attempt
            if self.refused or not self.plan["changed"]:
                return not self.refused
            try:
                after = client.request(
                    "PATCH", resource.path(self.namespace, self.name), resource.action("patch", self.namespace, self.name),
                    query={"dryRun": "All" if dry_run else None, "fieldManager": FIELD_MANAGER},
                    body=self.plan["patch"], content_type=self.plan["content_type"])
            except ApiError as exc:
                if exc.status != 409 or attempt == MAX_PATCH_ATTEMPTS:
                    self.patch_error = str(exc)
                    return False
            except KubeError as exc:
                self.patch_error = str(exc)
                return False
            else:
                if not dry_run:
                    self.before, self.obj, self.written = self.obj, after, True
                return True
            _pause(attempt)
            try:
                self.obj = client.get(resource, self.namespace, self.name)
                self.resolve(client, params)
            except KubeError as exc:
                self.patch_error = str(exc)
                return False
        return False

    def result(self):
        plan = self.plan or {}
        entry = plan.get("entry") or {}
        result = {
            "kind": self.kind, "name": self.name, "namespace": self.namespace,
            "changed": self.written or self.would_change,
            "action": plan.get("action"),
            "from_revision": self.from_revision,
            "to_revision": entry.get("revision"),
            "previous_images": template_images(dig(self.before, "spec", "template")),
            "images": entry.get("images") or {},
            "patch_attempts": self.patch_attempts,
            "status": SKIPPED, "reason": None, "message": None, "pod": None, "revision": None,
            "new_replicaset": None, "duration": None, "timeline": [], "watch_reconnects": 0,
        }
        if self.wait:
            result.update(self.wait.result())
        if self.refused:
            result.update(status="failed", reason=self.refused.reason, message=self.refused.message)
        elif self.patch_error:
            result.update(status="failed", reason="PatchFailed", message=self.patch_error)
        return result

    def diff_entry(self, after):
        plan = self.plan or {}
        if after and plan.get("changed"):
            return {"revision": (plan.get("entry") or {}).get("revision"), "images": plan["entry"]["images"],
                    "annotations": plan.get("annotations") or {}}
        return {"revision": self.from_revision, "images": template_images(dig(self.before, "spec", "template")),
                "annotations": dig(self.before, "metadata", "annotations", default={})}


def _key(run):
    return "%s/%s/%s" % (run.kind, run.namespace, run.name)


def _result(runs, changed, failure=None, warnings=()):
    result = {
        "changed": changed,
        "targets": [run.result() for run in runs],
        "diff": {"before": dict((_key(run), run.diff_entry(False)) for run in runs),
                 "after": dict((_key(run), run.diff_entry(True)) for run in runs)},
        "warnings": list(warnings),
    }
    if failure:
        result.update(failed=True, msg=failure)
    return result


def undo(client, params, check_mode):
    """Run the undo; returns the result dict (failed=True and msg when it fails) or raises KubeError."""
    kind = params["kind"]
    objects = fetch_targets(client, kind, params["namespace"], params.get("name"), params.get("label_selectors"))
    runs = [UndoRun(kind, obj) for obj in objects]
    parallel_map(lambda run: run.resolve(client, params), runs)

    problems = [run.refused.message for run in runs if run.refused]
    if params["wait"]:
        problems += [p for p in (update_strategy_error(kind, run.obj) for run in runs) if p]
    if problems:
        return _result(runs, False, "nothing was changed: " + "; ".join(problems))

    warnings = ["%s has the annotation %s: the next `kubectl apply` of its manifest brings back what that manifest "
                "says" % (run.ref, LAST_APPLIED_ANNOTATION)
                for run in runs if run.plan["changed"] and LAST_APPLIED_ANNOTATION in
                dig(run.obj, "metadata", "annotations", default={})]
    # Every patch first as a server-side dry run: admission, validation and RBAC refuse one target here,
    # before any other is written.
    parallel_map(lambda run: run.patch(client, params, dry_run=True), runs)
    refused = [run for run in runs if run.patch_error or run.refused]
    if refused:
        return _result(runs, False, "nothing was changed: the server-side dry run refused %s" % "; ".join(
            run.refused.message if run.refused else "%s: %s" % (run.ref, run.patch_error) for run in refused), warnings)
    if check_mode:
        for run in runs:
            run.would_change = run.plan["changed"]
        return _result(runs, any(run.plan["changed"] for run in runs), warnings=warnings)

    parallel_map(lambda run: run.patch(client, params, dry_run=False), runs)
    failed_writes = [run for run in runs if run.patch_error or run.refused]
    if failed_writes:
        written = [run.ref for run in runs if run.written]
        message = "; ".join("%s: undo failed: %s" % (run.ref, run.patch_error or run.refused.message)
                            for run in failed_writes)
        message += ". Already undone: %s" % ", ".join(written) if written else ". Nothing was changed"
        return _result(runs, bool(written), message, warnings)

    if params["wait"]:
        for run in runs:
            run.wait = RolloutTarget(kind, run.obj, _stale_conditions(run.before) if run.written else ())
        RolloutWaiter(client, [run.wait for run in runs], params["wait_timeout"], params["crashloop_restarts"],
                      transient_grace=params["transient_failure_grace"]).run()
    failed = [run for run in runs if run.wait and (run.wait.outcome or {}).get("status") != COMPLETE]
    failure = None
    if failed:
        failure = "; ".join(run.wait.outcome_line() for run in failed)
        if any(run.written for run in runs):
            failure += ". The undo was written (%s); the rollout of it did not complete" % ", ".join(
                "%s to revision %s" % (run.ref, run.plan["entry"]["revision"]) for run in runs if run.written)
    return _result(runs, any(run.written for run in runs), failure, warnings)
