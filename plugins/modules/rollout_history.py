#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_history
short_description: The rollout history of Kubernetes workloads, as kubectl rollout history computes it
version_added: 0.2.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Lists the revisions of Deployments, StatefulSets and DaemonSets, like C(kubectl rollout history), with for
    each revision its number, change-cause, images, pod template, when its object was created, and which revision
    is current.
  - A Deployment's revisions are the ReplicaSets it controls, numbered by their
    C(deployment.kubernetes.io/revision) annotation; a ReplicaSet that served earlier revisions too lists them in
    RV(targets[].revisions[].revision_history) (from C(deployment.kubernetes.io/revision-history)). The current
    revision is the ReplicaSet whose pod template is the Deployment's.
  - StatefulSets and DaemonSets keep their revisions in ControllerRevisions; the current revision is the one
    holding the workload's pod template.
  - The revision numbers are the ones M(kubedev.devloop.rollout_undo) and C(kubectl rollout undo --to-revision)
    take.
  - Never changes anything.
options:
  name:
    description:
      - Name of the workload, or a list of names (all of kind O(kind) in O(namespace)).
      - Exactly one of O(name) and O(label_selectors) is required.
    type: list
    elements: str
  label_selectors:
    description:
      - Label selectors; every workload of kind O(kind) in O(namespace) that matches all of them is a target.
        Matching none is an error; an empty list or a blank selector is refused before any request.
    type: list
    elements: str
  namespace:
    description:
      - Namespace of the workloads. Defaults to the namespace of the kubeconfig context, else C(default).
    type: str
  kind:
    description: Kind of the workloads.
    type: str
    default: Deployment
    choices: [DaemonSet, Deployment, StatefulSet]
  revision:
    description:
      - Only this revision (as C(kubectl rollout history --revision)); the task fails when a target has no such
        revision.
    type: int
extends_documentation_fragment:
  - kubedev.devloop.connection
  - kubedev.devloop.rollout_group
attributes:
  check_mode:
    support: full
    description:
      - The module only reads, so it reads in check mode too.
  diff_mode:
    support: none
    description:
      - Nothing changes, so there is no difference to show.
notes:
  - "Permissions: C(get) (C(list) with O(label_selectors)) on the workloads, and C(list) on C(replicasets)
    (Deployment) or C(controllerrevisions) (StatefulSet, DaemonSet) in the namespace
    (C(docs/rbac/rollout_undo-role.yml) in this collection holds them). M(kubedev.devloop.rollout_preflight) with
    O(kubedev.devloop.rollout_preflight#module:rules_for=rollout_history) asks for them."
  - A Deployment's C(revisionHistoryLimit) (default 10) and a StatefulSet's or DaemonSet's
    C(revisionHistoryLimit) bound how many old revisions the controllers keep.
seealso:
  - module: kubedev.devloop.rollout_undo
  - name: kubectl rollout history
    description: The command line equivalent.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_history/
"""

EXAMPLES = r"""
- name: Read the revisions of the web Deployment
  kubedev.devloop.rollout_history:
    name: web-deployment
    namespace: dev
  register: web_history

- name: Show them as kubectl does
  ansible.builtin.debug:
    msg: >-
      {{ item.revision }} {{ item.change_cause | default('<none>', true) }} {{ item.images.values() | join(',') }}
      {{- ' (current)' if item.current else '' }}
  loop: "{{ web_history.revisions }}"

- name: The pod template of revision 3 of a StatefulSet
  kubedev.devloop.rollout_history:
    kind: StatefulSet
    name: db
    revision: 3
  register: db_revision_3
"""

RETURN = r"""
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
revisions:
  description: The revisions of the only target (RV(targets[].revisions)), when there is one target.
  returned: when exactly one target was found
  type: list
  elements: dict
current_revision:
  description: The current revision of the only target, when there is one target.
  returned: when exactly one target was found
  type: int
  sample: 3
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
    current_revision:
      description: Number of the revision whose pod template the workload has now; null when none has it yet
        (the controller has not made its revision).
      type: int
      returned: always
      sample: 3
    revisions:
      description: The revisions, oldest (lowest number) first.
      type: list
      elements: dict
      returned: always
      contains:
        revision:
          description: The revision number.
          type: int
          returned: always
          sample: 2
        change_cause:
          description: The C(kubernetes.io/change-cause) annotation of the revision, null when it has none
            (C(<none>) in kubectl's listing).
          type: str
          returned: always
          sample: release 1.0.1-3f2a9c1e0b7d
        images:
          description: Container (and init container) name to image, of the revision's pod template.
          type: dict
          returned: always
          sample: {"web": "127.0.0.1:5000/sample-app:1.0.1-3f2a9c1e0b7d"}
        created:
          description: When the ReplicaSet or ControllerRevision of the revision was created (a ReplicaSet reused
            by a later rollout keeps its time).
          type: str
          returned: always
          sample: "2025-01-01T12:00:00Z"
        current:
          description: Whether this is the revision the workload runs now (its pod template).
          type: bool
          returned: always
        name:
          description: Name of the ReplicaSet or ControllerRevision.
          type: str
          returned: always
          sample: web-deployment-6f9c8d7b5
        template:
          description: The revision's pod template (a Deployment's without the C(pod-template-hash) label).
          type: dict
          returned: always
        revision_history:
          description: Earlier revision numbers the same ReplicaSet served (Deployment only).
          type: list
          elements: int
          returned: for Deployments
          sample: [1, 3]
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import kube_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_undo_runner import (
    HISTORY_ARG_SPEC,
    HISTORY_MUTUALLY_EXCLUSIVE,
    HISTORY_REQUIRED_ONE_OF,
    check_history_request,
    show_history,
)


def main():
    module = kube_module(HISTORY_ARG_SPEC, mutually_exclusive=HISTORY_MUTUALLY_EXCLUSIVE,
                         required_one_of=HISTORY_REQUIRED_ONE_OF)
    run_task(module, check_history_request(module.params), show_history)


if __name__ == "__main__":
    main()
