# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What kubedev.devloop.set_image does: check, dry-run every patch, patch, wait, roll back.

Order matters: every input is checked for every target and every patch passes a server-side dry
run before the first write, so a bad request changes nothing; a write that still fails midway is
undone on the targets already written; a failed rollout is rolled back to the images read before
the patch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError, KubeError, error_text
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import WORKLOADS
from ansible_collections.kubedev.devloop.plugins.module_utils.image_ref import validate_image_reference
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import (
    condition_fingerprint,
    dig,
    find_condition,
    update_strategy_error,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_plan import (
    CHANGE_CAUSE_ANNOTATION,
    build_patch,
    flat_changes,
    holds_changes,
    plan_images,
    plan_rollback,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import (
    check_task_options,
    fetch_targets,
    parallel_map,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import COMPLETE, RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter

MAX_PATCH_ATTEMPTS = 5
SKIPPED = "skipped"
FIELD_MANAGER = "kubedev-set-image"


def check_request(params):
    """Messages for invalid input that needs no cluster to detect."""
    errors = check_task_options(params)
    containers = params.get("containers") or {}
    if not containers:
        errors.append("containers must map at least one container name (or '*') to an image")
    for container, image in sorted(containers.items()):
        if not isinstance(image, str):
            errors.append("image for container %r must be a string, got %r" % (container, image))
            continue
        problem = validate_image_reference(image)
        if problem:
            errors.append("container %r: %s" % (container, problem))
    return errors


def _conflict_pause(attempt):
    time.sleep(0.05 * attempt * (0.5 + random.random()))


def patch_with_retry(client, kind, obj, compute_changes, annotations, dry_run):
    """Patch `compute_changes(obj)`, conditional on obj's resourceVersion; on 409 re-read and retry.

    Returns dict(before, after, changes, attempts); changes == {} means nothing needed writing.
    """
    resource = WORKLOADS[kind]
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    for attempt in range(1, MAX_PATCH_ATTEMPTS + 1):
        changes = compute_changes(obj)
        if not changes:
            return {"before": obj, "after": obj, "changes": {}, "attempts": attempt}
        body = build_patch(changes, obj["metadata"]["resourceVersion"], annotations)
        try:
            after = client.patch(resource, namespace, name, body, FIELD_MANAGER, dry_run=dry_run)
            return {"before": obj, "after": after, "changes": changes, "attempts": attempt}
        except Exception as exc:  # a lost answer can surface as any type: urllib3's, OSError, a JSON error
            conflict = isinstance(exc, ApiError) and exc.status == 409
            if not conflict:
                if dry_run or not answer_may_be_lost(exc):
                    raise
                return _settle_unclear_write(client, kind, obj, changes, attempt, exc)
            if attempt == MAX_PATCH_ATTEMPTS:
                raise KubeError("%s %s/%s kept changing under us: %d conditional patches in a row got 409 "
                                "Conflict; last: %s" % (kind, namespace, name, attempt, exc.server_message))
        _conflict_pause(attempt)
        obj = client.get(resource, namespace, name)
    # the last attempt returns or raises


class UnclearWrite(KubeError):
    """A write whose answer was lost, and the object could not be re-read: it may or may not be applied."""


def answer_may_be_lost(exc):
    """Whether a write that failed with exc may still have been committed: the server (or a gateway before it)
    answered 5xx, or no answer was read at all - a read timeout or a dropped connection after the request
    left, or a body that is not the API's JSON. A 4xx is the API server's refusal: nothing was written."""
    if isinstance(exc, ApiError):
        return exc.status >= 500
    return True


def _settle_unclear_write(client, kind, obj, changes, attempt, exc):
    """After a write whose answer was lost, decide from what the server holds: a new resourceVersion with
    every image we sent means it was applied (the outcome patch_with_retry returns, with `unclear` set);
    else it was not (KubeError). When the object cannot be read either, UnclearWrite."""
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    lost = error_text(exc)
    try:
        current = client.get(WORKLOADS[kind], namespace, name)
    except Exception as reread:
        raise UnclearWrite("%s; whether the server applied the patch is unknown, as re-reading %s %s/%s failed: %s"
                           % (lost, kind, namespace, name, error_text(reread)))
    if (current["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
            and holds_changes(current, changes)):
        return {"before": obj, "after": current, "changes": changes, "attempts": attempt, "unclear": lost}
    raise KubeError("%s (re-read: the server did not apply it)" % lost)


class TargetRun(object):
    """One workload through the whole task."""

    def __init__(self, kind, obj):
        self.kind = kind
        self.obj = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.previous = {}
        self.images = {}
        self.planned = {}           # container -> image the dry run accepted
        self.applied = {}           # container -> image we wrote (in check mode: would write)
        self.previous_change_cause = dig(obj, "metadata", "annotations", CHANGE_CAUSE_ANNOTATION)
        self.patch_attempts = 0
        self.patch_error = None
        self.write_unknown = False  # the answer to our write was lost and the object could not be re-read
        self.answer_lost = None     # the answer to our write was lost; a re-read showed it applied
        self.before_patch = obj     # the object as read right before our (successful) patch
        self.wait = None            # RolloutTarget of the rollout
        self.rollback = None        # dict describing the rollback, when one happened
        self.rollback_wait = None

    @property
    def ref(self):
        return "%s %s/%s" % (self.kind, self.namespace, self.name)

    @property
    def changed(self):
        return bool(self.applied)

    @property
    def restored(self):
        """Every container this task changed has its previous image again (rollout not considered)."""
        rollback = self.rollback or {}
        return bool(self.applied and rollback.get("status") != "failed" and not rollback.get("left_alone")
                    and rollback.get("images") == dict((name, self.previous[name]) for name in self.applied))

    @property
    def rolled_back(self):
        """True only when the images are restored and the rollout of that restore completed."""
        return self.restored and (self.rollback or {}).get("status") == COMPLETE

    def status(self):
        if self.patch_error:
            return "failed"
        return self.wait.outcome["status"] if self.wait else SKIPPED

    def result(self):
        entry = {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "changed": self.changed,
            "previous_images": self.previous,
            "images": self.images,
            "patch_attempts": self.patch_attempts,
            "status": self.status(),
            "reason": None,
            "message": None,
            "pod": None,
            "revision": None,
            "new_replicaset": None,
            "duration": None,
            "timeline": [],
            "watch_reconnects": 0,
            "rolled_back": self.rolled_back,
            "rollback": self.rollback,
        }
        if self.wait:
            entry.update(self.wait.result())
        if self.patch_error:
            entry.update(reason="PatchFailed", message=self.patch_error)
        return entry


def _stale_conditions(obj):
    """Deployment conditions as they were before our patch: they describe an earlier rollout."""
    return [condition_fingerprint(find_condition(obj, t)) for t in ("Progressing", "ReplicaFailure")
            if find_condition(obj, t)]


def set_images(client, params, check_mode, give_up=None):
    """Run the task; returns the result dict (failed=True and msg when the task fails) or raises KubeError.

    give_up (the dev loop's): a callable that, once true, ends the wait early; the rollout is then neither judged nor
    rolled back (a newer one replaces it) and the result says superseded=True."""
    kind = params["kind"]
    requested = params["containers"]
    objects = fetch_targets(client, kind, params["namespace"], params.get("name"), params.get("label_selectors"))
    runs = [TargetRun(kind, obj) for obj in objects]

    problems = []
    for run in runs:
        if params["wait"] or params["rollback_on_failure"]:
            problem = update_strategy_error(kind, run.obj)
            if problem:
                problems.append(problem)
        plan = plan_images(kind, run.obj, requested)
        if plan["error"]:
            problems.append(plan["error"])
    if problems:
        return {"changed": False, "rolled_back": False, "targets": [], "failed": True,
                "msg": "nothing was changed: " + "; ".join(problems)}

    annotations = {CHANGE_CAUSE_ANNOTATION: params["change_cause"]} if params.get("change_cause") else None
    # Every patch first as a server-side dry run: admission, validation and RBAC refuse one target
    # here, before any other is written.
    parallel_map(lambda run: _dry_run(client, run, requested, annotations), runs)
    refused = [run for run in runs if run.patch_error]
    if refused:
        for run in runs:
            run.applied = {}
        return _result(runs, "nothing was changed: the server-side dry run refused %s" % "; ".join(
            "%s: %s" % (run.ref, run.patch_error) for run in refused))
    if check_mode:
        for run in runs:
            run.applied = dict(run.planned)
        return _result(runs)

    parallel_map(lambda run: _write(client, run, requested, annotations), runs)
    if any(run.patch_error for run in runs):
        return _undo_partial_write(client, runs, params, restore_change_cause=annotations is not None)

    if params["wait"]:
        targets = []
        for run in runs:
            stale = _stale_conditions(run.before_patch) if run.changed else ()
            run.wait = RolloutTarget(kind, run.obj, stale)
            targets.append(run.wait)
        RolloutWaiter(client, targets, params["wait_timeout"], params["crashloop_restarts"],
                      transient_grace=params["transient_failure_grace"], give_up=give_up).run()
        if give_up is not None and give_up() and any(run.status() not in (COMPLETE, SKIPPED) for run in runs):
            result = _result(runs)
            result["superseded"] = True
            return result

    failed = [run for run in runs if run.status() not in (COMPLETE, SKIPPED)]
    rolled_back = False
    if failed and params["rollback_on_failure"] and any(run.changed for run in runs):
        rolled_back = _roll_back(client, runs, params, restore_change_cause=annotations is not None)
    result = _result(runs)
    result["rolled_back"] = rolled_back
    if failed:
        result.update(failed=True, msg=_failure_message(failed, runs, rolled_back))
    return result


def _result(runs, failure=None):
    result = {
        # a write that may have landed counts: "nothing was changed" must be true when said
        "changed": any(run.changed or run.write_unknown for run in runs),
        "rolled_back": False,
        "targets": [run.result() for run in runs],
        "diff": _diff(runs),
        "warnings": ["%s: %s; re-reading it showed the server had applied it" % (run.ref, run.answer_lost)
                     for run in runs if run.answer_lost],
    }
    if failure:
        result.update(failed=True, msg=failure)
    return result


def _patch(client, run, requested, annotations, dry_run):
    """One conditional patch of the run's images (re-planned on every 409). Returns the outcome, or None
    after recording the failure in run.patch_error."""
    def changes_for(obj):
        plan = plan_images(run.kind, obj, requested)
        if plan["error"]:  # a container disappeared between our reads
            raise KubeError(plan["error"])
        run.previous, run.images = plan["previous"], plan["images"]
        return plan["changes"]

    try:
        outcome = patch_with_retry(client, run.kind, run.obj, changes_for, annotations, dry_run)
    except Exception as exc:  # recorded, so the targets already written are undone
        run.patch_error = error_text(exc)
        run.write_unknown = isinstance(exc, UnclearWrite)
        return None
    run.patch_attempts = outcome["attempts"]
    run.answer_lost = outcome.get("unclear")
    run.before_patch = outcome["before"]
    return outcome


def _dry_run(client, run, requested, annotations):
    outcome = _patch(client, run, requested, annotations, dry_run=True)
    if outcome:
        run.planned = flat_changes(outcome["changes"])
        run.obj = outcome["before"]


def _write(client, run, requested, annotations):
    if not run.planned:
        return  # already at the requested images: nothing to write (the wait still confirms the rollout)
    outcome = _patch(client, run, requested, annotations, dry_run=False)
    if outcome:
        run.applied = flat_changes(outcome["changes"])
        run.previous_change_cause = dig(outcome["before"], "metadata", "annotations", CHANGE_CAUSE_ANNOTATION)
        run.obj = outcome["after"] if run.applied else outcome["before"]


def _undo_partial_write(client, runs, params, restore_change_cause):
    """A write failed after its dry run passed (a webhook, a quota, RBAC changed in between): put the
    previous images back on the targets already written, so no target is left changed alone."""
    written = [run for run in runs if run.changed]
    rolled_back = _roll_back(client, runs, params, restore_change_cause) if written else False
    message = "; ".join("%s: patch failed: %s" % (run.ref, run.patch_error) for run in runs if run.patch_error)
    unknown = [run for run in runs if run.write_unknown]
    if unknown:
        message += (". %s may hold the new images: look at %s (kubectl rollout history)"
                    % (", ".join(run.ref for run in unknown), "them" if len(unknown) > 1 else "it"))
    if not written and not unknown:
        message = "nothing was changed: " + message
    elif rolled_back or (not params["wait"] and all(run.restored for run in written)):
        message += ". Restored the previous images of %s, which this task had already written (%s)" % (
            ", ".join(run.ref for run in written), "rollout complete" if rolled_back else "not waited for")
    else:
        message += ". Restoring the targets already written did not complete: " + "; ".join(
            "%s: %s" % (run.ref, (run.rollback or {}).get("message") or "not restored")
            for run in written if not run.rolled_back)
    result = _result(runs, message)
    result["rolled_back"] = rolled_back
    return result


def _roll_back(client, runs, params, restore_change_cause):
    """Put the images read before our patch back on every changed target and, with wait, wait for that
    rollout. Returns True when every changed target has all its previous images back (and, with wait,
    the rollout of that completed)."""
    def roll_back_one(run):
        if not run.changed:
            return
        skipped = []

        def changes_for(obj):
            changes, skipped_now = plan_rollback(obj, run.previous, run.applied)
            skipped[:] = skipped_now
            return changes

        if restore_change_cause:
            annotations_for_run = {CHANGE_CAUSE_ANNOTATION: run.previous_change_cause}
        else:
            annotations_for_run = None
        try:
            current = client.get(WORKLOADS[run.kind], run.namespace, run.name)
            outcome = patch_with_retry(client, run.kind, current, changes_for, annotations_for_run, False)
        except Exception as exc:  # recorded: the other targets' rollbacks go on
            run.rollback = {"status": "failed", "message": "rollback patch failed: %s" % error_text(exc), "images": {}}
            return
        restored = flat_changes(outcome["changes"])
        run.rollback = {"status": None, "message": None, "images": restored,
                        "left_alone": skipped or [], "patch_attempts": outcome["attempts"]}
        if skipped:
            run.rollback["message"] = ("left alone: %s, changed by someone else since this task set them"
                                       % ", ".join(sorted(skipped)))
        if not restored:
            run.rollback["status"] = "skipped"
            return
        if not params["wait"]:
            run.rollback.update(status=SKIPPED, message=run.rollback["message"] or "restored; not waited for (wait: false)")
            return
        run.rollback_wait = RolloutTarget(run.kind, outcome["after"], _stale_conditions(outcome["before"]),
                                          restoring=True)

    parallel_map(roll_back_one, runs)
    waits = [run.rollback_wait for run in runs if run.rollback_wait is not None]
    if waits:
        RolloutWaiter(client, waits, params["wait_timeout"], params["crashloop_restarts"],
                      stop_on_failure=False, transient_grace=params["transient_failure_grace"]).run()
    for run in runs:
        if run.rollback_wait is not None:
            wait_result = run.rollback_wait.result()
            left_alone = run.rollback["message"]
            run.rollback.update(status=wait_result["status"], reason=wait_result["reason"],
                                revision=wait_result["revision"], timeline=wait_result["timeline"],
                                duration=wait_result["duration"],
                                message="; ".join(m for m in (wait_result["message"], left_alone) if m))
    return all(run.rolled_back for run in runs if run.changed)


def _failure_message(failed, runs, rolled_back):
    parts = []
    for run in failed:
        parts.append("%s: patch failed: %s" % (run.ref, run.patch_error) if run.patch_error
                     else run.wait.outcome_line())
    message = "; ".join(parts)
    changed = [run for run in runs if run.changed]
    if rolled_back:
        message += ". Rolled back %s to the previous images (rollout complete)" % ", ".join(r.ref for r in changed)
    elif any(run.rollback for run in changed):
        problems = ["%s: %s" % (r.ref, (r.rollback or {}).get("message") or "not rolled back") for r in changed
                    if not r.rolled_back]
        message += ". Rollback did not complete: " + "; ".join(problems)
    return message


def _diff(runs):
    def key(run):
        return "%s/%s/%s" % (run.kind, run.namespace, run.name)

    return {
        "before": dict((key(run), dict(run.previous)) for run in runs),
        "after": dict((key(run), dict(run.images)) for run in runs),
    }
