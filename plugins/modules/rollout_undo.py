#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_undo
short_description: Undo the rollout of Kubernetes workloads as kubectl rollout undo does, and wait for the verdict
version_added: 0.2.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Rolls Deployments, StatefulSets and DaemonSets back to the previous revision, to revision O(to_revision), or to
    the newest revision that ran the image O(to_image) - resolved and written as C(kubectl rollout undo) does -
    then waits like M(kubedev.devloop.set_image), failing fast with the pod and the reason when the revision cannot
    come up.
  - The previous revision is the second highest revision number of the history M(kubedev.devloop.rollout_history)
    lists, so an undo after an undo goes back to where the first undo came from, as with kubectl.
  - A paused Deployment is refused with kubectl's reason (resume it first); a revision the history no longer has
    (pruned by C(revisionHistoryLimit)) is refused with the revisions it has. Nothing is written then.
  - Idempotent - when the workload's pod template already is the revision's, nothing is written and RV(changed) is
    false (kubectl's C(skipped rollback)); with O(wait=true) the module still confirms the rollout is complete.
  - A Deployment gets the revision's pod template and annotations (its C(kubernetes.io/change-cause) among them), and
    keeps its own C(kubectl.kubernetes.io/last-applied-configuration), C(deployment.kubernetes.io/revision),
    C(revision-history), C(desired-replicas), C(max-replicas) annotations - the ones kubectl keeps. A StatefulSet or
    DaemonSet gets the revision's pod template; its annotations stay as they are.
  - Every target's revision is resolved and every patch is sent as a server-side dry run before the first write;
    the patch is conditional on the C(resourceVersion) read (a concurrent change - HTTP 409 - is read again,
    resolved again, and retried a few times).
options:
  to_revision:
    description:
      - The revision number to go back to, as listed by M(kubedev.devloop.rollout_history) or C(kubectl rollout
        history). C(0) or unset - the previous revision.
      - Mutually exclusive with O(to_image).
    type: int
  to_image:
    description:
      - Go back to the newest revision whose pod template runs this image (exactly as written in the template) in any
        container or init container. When the current revision runs it, nothing is changed.
      - Mutually exclusive with O(to_revision).
    type: str
  wait:
    description:
      - Wait until the rollout of every target is complete (the rules of C(kubectl rollout status)), fails, or
        O(wait_timeout) runs out. Without it RV(targets[].status) is C(skipped).
    type: bool
    default: true
extends_documentation_fragment:
  - kubedev.devloop.targets
  - kubedev.devloop.connection
  - kubedev.devloop.rollout_group
attributes:
  check_mode:
    support: full
    description:
      - The revision is resolved, refusals are reported, and the patch is sent as a server-side dry run
        (C(dryRun=All)); nothing is written or waited for.
  diff_mode:
    support: full
    description:
      - Shows the revision, images and annotations before and after, per target.
notes:
  - "Permissions: C(get), C(list), C(watch), C(patch) on the workloads; C(get), C(list), C(watch) on C(replicasets)
    (Deployment) or C(controllerrevisions) (StatefulSet, DaemonSet); C(list), C(watch) on C(pods) - the Role in
    C(docs/rbac/rollout_undo-role.yml) of this collection. M(kubedev.devloop.rollout_preflight) with
    O(kubedev.devloop.rollout_preflight#module:rules_for=rollout_undo) asks for them before anything changes."
  - Completion and the fail-fast checks are M(kubedev.devloop.set_image)'s - fail fast on image pull errors that
    cannot heal, C(CrashLoopBackOff) and the like, with O(transient_failure_grace) for failures that may heal.
    C(kubectl rollout status) would wait for the progress deadline (or, for StatefulSets and DaemonSets, forever).
  - A failed rollout of the undo is not undone again; the task fails and says which revision was written.
  - Should a write fail after every dry run passed, the targets already written stay written and the message names
    them.
  - Unlike M(kubernetes.core.k8s_rollback) it handles StatefulSets, takes a target revision, waits, finds the previous
    revision after an earlier undo, keeps the Deployment's annotations as kubectl does, and reports RV(changed=false)
    when the template already matches.
seealso:
  - module: kubedev.devloop.rollout_history
  - module: kubedev.devloop.set_image
  - name: kubectl rollout undo
    description: The command line equivalent.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_undo/
"""

EXAMPLES = r"""
- name: Undo the last rollout of the web Deployment and wait until the previous revision runs
  kubedev.devloop.rollout_undo:
    name: web-deployment
    namespace: dev

- name: Go back to revision 3
  kubedev.devloop.rollout_undo:
    name: web-deployment
    to_revision: 3
    wait_timeout: 120

- name: Go back to the revision that ran a known good image
  kubedev.devloop.rollout_undo:
    name: web-deployment
    to_image: registry.example.com/hello-k8s:0.0.2

- name: A StatefulSet, showing what would change
  kubedev.devloop.rollout_undo:
    kind: StatefulSet
    name: db
  check_mode: true
  diff: true
"""

RETURN = r"""
changed:
  description: Whether a target's template was (or in check mode would be) changed.
  returned: always
  type: bool
targets:
  description: One entry per target, in the order named (label selectors - by name).
  returned: when the targets were found
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the workload.
      type: str
      returned: always
    name:
      description: Name of the workload.
      type: str
      returned: always
    namespace:
      description: Namespace of the workload.
      type: str
      returned: always
    changed:
      description: Whether this target was (or would be) rolled back.
      type: bool
      returned: always
    action:
      description: kubectl's word for it - C(rolled back), or C(skipped rollback (current template already matches
        revision N)); null when refused.
      type: str
      returned: always
      sample: rolled back
    from_revision:
      description: The revision that was current before (RV(kubedev.devloop.rollout_history#module:current_revision)).
      type: int
      returned: always
      sample: 4
    to_revision:
      description: The history revision that was restored (its number before the undo; a Deployment's controller
        gives it the next number as it rolls out, see RV(targets[].revision)).
      type: int
      returned: always
      sample: 3
    previous_images:
      description: Container name to image before the undo.
      type: dict
      returned: always
    images:
      description: Container name to image of the restored revision.
      type: dict
      returned: always
    status:
      description: C(complete), C(failed) (see RV(targets[].reason)), C(timed_out), C(in_progress) (another target
        failed first), or C(skipped) (not waited for).
      type: str
      returned: always
      sample: complete
    reason:
      description: Short reason of a failure, such as C(DeploymentPaused), C(RevisionNotFound), C(NoRolloutHistory),
        C(ImagePullBackOff), C(CrashLoopBackOff), C(Timeout), C(PatchFailed).
      type: str
      returned: always
    message:
      description: What happened, in words; for failures it names the pod and container.
      type: str
      returned: always
    pod:
      description: Name of the pod whose failure failed the rollout.
      type: str
      returned: always
    revision:
      description: The revision that rolled out, as M(kubedev.devloop.set_image) returns it (a Deployment's new
        revision number, a StatefulSet's C(updateRevision), a DaemonSet's ControllerRevision).
      type: str
      returned: always
      sample: "5"
    new_replicaset:
      description: Name of the Deployment's ReplicaSet that rolled out (null for other kinds).
      type: str
      returned: always
    duration:
      description: Seconds from the start of the wait to this target's outcome.
      type: float
      returned: always
    timeline:
      description: Replica counts while waiting, only changes, at most 20 entries.
      type: list
      elements: dict
      returned: always
    watch_reconnects:
      description: How often a watch connection dropped and was resumed.
      type: int
      returned: always
    patch_attempts:
      description: Conditional patches sent (with the dry run's); more than one means a concurrent change.
      type: int
      returned: always
diff:
  description: Revision, images and annotations before and after, keyed C(Kind/namespace/name).
  returned: in diff mode
  type: dict
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_undo_runner import (
    UNDO_ARG_SPEC,
    check_undo_request,
    undo,
)


def main():
    module = rollout_module(UNDO_ARG_SPEC)
    run_task(module, check_undo_request(module.params),
             lambda client, params: undo(client, params, module.check_mode),
             problems_prefix="nothing was changed: ")


if __name__ == "__main__":
    main()
