#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_status
short_description: Wait until rollouts of Kubernetes workloads are complete, and say why when they are not
version_added: 0.1.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - The waiting half of M(kubedev.devloop.set_image) on its own, for Deployments, StatefulSets and DaemonSets
    changed by anything (C(kubectl apply), M(kubernetes.core.k8s), a GitOps controller).
  - Waits with the watch API until each rollout is complete by the rules of C(kubectl rollout status), and fails
    fast, naming the object, the pod and the reason, when the current revision cannot come up (image pull errors
    that cannot heal, C(CrashLoopBackOff), C(CreateContainerConfigError), C(CreateContainerError),
    C(ProgressDeadlineExceeded), a Pod Security C(ReplicaFailure), a paused Deployment).
  - Failures that can heal by themselves (a registry briefly down, a ConfigMap created later, an exceeded quota) are
    waited through, pod failures for up to O(transient_failure_grace) seconds.
  - Never changes anything.
extends_documentation_fragment:
  - kubedev.devloop.targets
  - kubedev.devloop.connection
  - kubedev.devloop.rollout_group
attributes:
  check_mode:
    support: full
    description:
      - The module only reads, so it waits in check mode too.
  diff_mode:
    support: full
    description:
      - There is never a difference to show.
notes:
  - "Permissions: C(get), C(list), C(watch) on the workloads, C(get), C(list), C(watch) on C(replicasets) and
    C(controllerrevisions), C(list), C(watch) on C(pods) - the read part of C(docs/rbac/set_image-role.yml)
    in this collection."
  - Waiting survives API server restarts and expired watches; O(wait_timeout) bounds the whole wait.
  - The wait watches the workloads, their ReplicaSets or ControllerRevisions, and only the pods of the revision
    rolling out (by their C(pod-template-hash) or C(controller-revision-hash) label), so its requests, traffic and
    memory do not grow with the old revision's pods or with other pods in the namespace.
seealso:
  - module: kubedev.devloop.set_image
  - name: kubectl rollout status
    description: The command line equivalent.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/kubectl_rollout_status/
"""

EXAMPLES = r"""
- name: Wait for the web Deployment after applying manifests
  kubedev.devloop.rollout_status:
    name: web-deployment
    namespace: default
    wait_timeout: 180

- name: Wait for every DaemonSet labelled tier=node
  kubedev.devloop.rollout_status:
    kind: DaemonSet
    namespace: kube-system
    label_selectors:
      - tier=node

- name: Tolerate slow starters that crash a few times
  kubedev.devloop.rollout_status:
    name: [api, worker]
    crashloop_restarts: 5
"""

RETURN = r"""
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
targets:
  description: One entry per target.
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
    status:
      description: C(complete), C(failed), C(timed_out), or C(in_progress) (the wait stopped because another target
        failed).
      type: str
      returned: always
      sample: complete
    reason:
      description: Short reason of a failure, such as C(CrashLoopBackOff) or C(Timeout).
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
      description: The revision rolling out (Deployment - C(deployment.kubernetes.io/revision); StatefulSet -
        C(updateRevision); DaemonSet - the ControllerRevision holding its current pod template).
      type: str
      returned: always
    new_replicaset:
      description: Name of the Deployment's current ReplicaSet (null for other kinds).
      type: str
      returned: always
    duration:
      description: Seconds from the start of the wait to this target's outcome.
      type: float
      returned: always
    timeline:
      description: Replica counts while waiting (C(t), C(updated), C(ready), C(available), C(total)), only changes,
        at most 20 entries.
      type: list
      elements: dict
      returned: always
    watch_reconnects:
      description: How often a watch connection dropped and was resumed.
      type: int
      returned: always
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_status_runner import wait_for_rollouts
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import check_task_options


def main():
    module = rollout_module()
    run_task(module, check_task_options(module.params), wait_for_rollouts)


if __name__ == "__main__":
    main()
