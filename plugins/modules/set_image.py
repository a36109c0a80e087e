#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: set_image
short_description: Set container images of Kubernetes workloads and wait until the rollout is really done
version_added: 0.1.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Sets the images of containers and init containers of Deployments, StatefulSets and DaemonSets, like
    C(kubectl set image), then waits like C(kubectl rollout status) - with the watch API, so it returns as soon as
    the rollout completes.
  - Fails fast, naming the object, the pod and the reason, when the new revision cannot come up - image pull errors
    that cannot heal (C(ErrImagePull), C(ImagePullBackOff) for a tag that does not exist, C(unauthorized), an unknown
    registry host; C(InvalidImageName)), C(CrashLoopBackOff), C(CreateContainerConfigError), C(CreateContainerError),
    C(ProgressDeadlineExceeded), a C(ReplicaFailure) that Pod Security admission causes, or a paused Deployment.
  - Waits through failures that can heal by themselves - a registry that is briefly down or overloaded, a ConfigMap
    or Secret created a little later - for up to O(transient_failure_grace) seconds; a C(ReplicaFailure) such as an
    exceeded quota is retried by the controller and waited through as C(kubectl rollout status) does.
  - With O(rollback_on_failure=true) it puts back the images it read before its own patch and waits for that
    rollout too; the task still fails, with RV(rolled_back=true) when the images are back and that rollout completed.
  - Idempotent - when every container already runs the requested image nothing is written (with O(wait=true) the
    module still confirms the rollout is complete).
  - Every target and every input is checked before the first write, and every target's patch is first sent as a
    server-side dry run. An unknown object or container, an invalid name, namespace or image reference, an empty
    label selector, a non-RollingUpdate StatefulSet/DaemonSet, a missing permission or an admission refusal of any
    one target changes nothing on any target.
  - Should a write still fail after its dry run passed (a webhook or quota deciding differently, RBAC changing in
    between), the targets this task already wrote get their previous images back (and, with O(wait), that rollout is
    waited for); the task fails and says so.
  - The patch is a strategic merge patch (containers are matched by name) conditional on the C(resourceVersion)
    the module read, so the images it reports as previous - and would roll back to - are exactly the ones it
    replaced. When another writer changes the object in between (HTTP 409 Conflict) the module reads it again and
    retries, a few times.
options:
  containers:
    description:
      - Container name to image. Names match containers and init containers.
      - The name C(*) sets every container and init container; explicit names next to it win.
      - Images are checked against the image reference grammar (lowercase repository path, optional
        C(registry[:port]/), C(:tag), C(@algorithm:hex) digest) before anything is written.
    type: dict
    required: true
  wait:
    description:
      - Wait until the rollout of every target is complete (the same conditions as C(kubectl rollout status)), or
        fails, or O(wait_timeout) runs out.
      - Without waiting, the module returns right after the patch and each target's RV(targets[].status) is
        C(skipped).
    type: bool
    default: true
  rollback_on_failure:
    description:
      - When a rollout fails or times out, patch every target this task changed back to the images it had before
        (only containers still running the image this task set; a concurrent edit is left alone), restore the
        C(kubernetes.io/change-cause) annotation if O(change_cause) was set, and wait for that rollout too (up
        to O(wait_timeout) again).
      - The task fails either way. RV(rolled_back) says whether the previous state is back and complete.
      - A StatefulSet with C(podManagementPolicy=OrderedReady) whose pod of the failed revision cannot become
        ready is not repaired by its controller (kubernetes/kubernetes#67250); the rollback then fails at once with
        reason C(StatefulSetRollbackStuck) and a message naming the pod to delete.
    type: bool
    default: false
  change_cause:
    description:
      - Text for the C(kubernetes.io/change-cause) annotation, set in the same patch as the images, so that
        C(kubectl rollout history) shows it.
      - Only written together with an image change; it alone does not make a target changed.
    type: str
extends_documentation_fragment:
  - kubedev.devloop.targets
  - kubedev.devloop.connection
  - kubedev.devloop.rollout_group
attributes:
  check_mode:
    support: full
    description:
      - The patch is sent as a server-side dry run (C(dryRun=All)), so validation and admission errors show up
        without changing anything. Nothing is waited for.
  diff_mode:
    support: full
    description:
      - Shows the images before and after, per target and container.
notes:
  - "Permissions: a least-privilege Role for this module is documented in C(docs/rbac/set_image-role.yml) of this
    collection: C(get), C(list), C(watch), C(patch) on C(deployments), C(statefulsets), C(daemonsets) (API group
    C(apps)); C(get), C(list), C(watch) on C(replicasets) and C(controllerrevisions); C(list), C(watch) on
    C(pods). A missing permission fails the task with the verb, resource and namespace that are missing."
  - Waiting survives API server restarts and expired watches - it reconnects with backoff and lists again when
    needed. O(wait_timeout) bounds the whole wait.
  - The wait watches the workloads, their ReplicaSets or ControllerRevisions, and only the pods of the revision
    rolling out (by their C(pod-template-hash) or C(controller-revision-hash) label), so its requests, traffic and
    memory do not grow with the old revision's pods or with other pods in the namespace.
  - Completion follows C(kubectl rollout status). Deployment - the controller observed the new generation, all
    C(spec.replicas) are updated, no old replicas are left, all updated replicas are available. StatefulSet - all
    replicas ready and C(replicas - partition) updated. DaemonSet - all scheduled pods updated and available.
  - The fail-fast pod checks look only at pods of the new revision - the new ReplicaSet's C(pod-template-hash) for
    Deployments, C(controller-revision-hash) of the update revision for StatefulSets and DaemonSets.
  - When several targets are given, all are dry-run, then patched, then waited for concurrently; the first failure
    ends the wait (the others are reported as C(in_progress)).
  - Where it deliberately differs from C(kubectl rollout status) it fails sooner, never later - a paused Deployment,
    a pod failure that cannot heal (C(kubectl rollout status) waits for the progress deadline, or forever for
    StatefulSets and DaemonSets), a Pod Security refusal - and says why. Otherwise their verdicts agree, which the
    collection's differential tests check on a real cluster.
seealso:
  - module: kubedev.devloop.rollout_status
  - module: kubernetes.core.k8s
  - name: kubectl set image
    description: The command line equivalent.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_set/kubectl_set_image/
"""

EXAMPLES = r"""
- name: Roll out a new image of the web container and wait until it is live
  kubedev.devloop.set_image:
    name: web-deployment
    namespace: default
    containers:
      web: registry.example.com/hello-k8s:0.0.2
    change_cause: release 0.0.2

- name: Same, and put the old image back if the new one does not come up within 2 minutes
  kubedev.devloop.set_image:
    name: web-deployment
    containers:
      web: registry.example.com/hello-k8s:0.0.3
    wait_timeout: 120
    rollback_on_failure: true

- name: Every container and init container of all Deployments labelled app=web
  kubedev.devloop.set_image:
    label_selectors:
      - app=web
    containers:
      "*": registry.example.com/hello-k8s@sha256:4b5e4c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6

- name: A StatefulSet, connecting with a token from the environment
  kubedev.devloop.set_image:
    kind: StatefulSet
    name: [db, cache]
    namespace: data
    containers:
      db: postgres:16.4
    host: https://k8s.example.com:6443
    api_key: "{{ lookup('ansible.builtin.env', 'K8S_TOKEN') }}"
    ca_cert: /etc/ssl/k8s-ca.pem

- name: Check what would change, with server-side validation
  kubedev.devloop.set_image:
    name: web-deployment
    containers:
      web: registry.example.com/hello-k8s:0.0.4
  check_mode: true
  diff: true

- name: Shared connection settings for the rollout modules
  module_defaults:
    group/kubedev.devloop.rollout:
      kubeconfig: ~/.kube/dev-config
      context: dev
  block:
    - name: Update the image
      kubedev.devloop.set_image:
        name: web-deployment
        containers:
          web: registry.example.com/hello-k8s:0.0.5
"""

RETURN = r"""
changed:
  description: Whether an image was (or in check mode would be) changed on any target.
  returned: always
  type: bool
rolled_back:
  description:
    - Whether the previous images are back on every target this task changed and those rollouts completed - after
      a failed rollout with O(rollback_on_failure), or after a write that failed midway across several targets.
    - False when a container was left alone because someone else changed it meanwhile, or when the rollout of the
      restore did not complete.
  returned: always
  type: bool
  sample: false
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
      sample: Deployment
    name:
      description: Name of the workload.
      type: str
      returned: always
      sample: web-deployment
    namespace:
      description: Namespace of the workload.
      type: str
      returned: always
      sample: default
    changed:
      description: Whether this target's images were (or would be) changed.
      type: bool
      returned: always
    previous_images:
      description: Images of the affected containers before the task, container name to image.
      type: dict
      returned: always
      sample: {"web": "registry.example.com/hello-k8s:0.0.1"}
    images:
      description: Images of the affected containers requested by the task.
      type: dict
      returned: always
      sample: {"web": "registry.example.com/hello-k8s:0.0.2"}
    status:
      description:
        - C(complete) - the rollout finished; C(failed) - it cannot finish (see RV(targets[].reason));
          C(timed_out) - O(wait_timeout) ran out; C(in_progress) - the wait stopped because another target failed;
          C(skipped) - not waited for (O(wait=false) or check mode).
      type: str
      returned: always
      sample: complete
    reason:
      description: Short machine-readable reason of a failure, such as C(ImagePullBackOff), C(CrashLoopBackOff),
        C(ProgressDeadlineExceeded), C(ReplicaFailure), C(DeploymentPaused), C(Timeout), C(Forbidden),
        C(PatchFailed).
      type: str
      returned: always
      sample: ImagePullBackOff
    message:
      description: What happened, in words; for failures it names the pod and container.
      type: str
      returned: always
      sample: "pod web-6f9c8-abcde container web: ImagePullBackOff: Back-off pulling image ..."
    pod:
      description: Name of the pod whose failure failed the rollout.
      type: str
      returned: always
    revision:
      description:
        - The revision that rolled out - the C(deployment.kubernetes.io/revision) of the new ReplicaSet for a
          Deployment, the C(updateRevision) for a StatefulSet, the ControllerRevision holding the DaemonSet's current
          pod template for a DaemonSet.
      type: str
      returned: always
      sample: "3"
    new_replicaset:
      description: Name of the Deployment's new ReplicaSet (null for other kinds).
      type: str
      returned: always
      sample: web-deployment-6f9c8d7b5
    duration:
      description: Seconds from the start of the wait to this target's outcome.
      type: float
      returned: always
      sample: 4.21
    timeline:
      description:
        - How the replica counts developed while waiting, only changes, at most 20 entries (the first and the
          latest). C(t) is seconds since the wait started.
      type: list
      elements: dict
      returned: always
      sample: [{"t": 0.0, "updated": 0, "ready": 3, "available": 3, "total": 3},
               {"t": 2.1, "updated": 3, "ready": 3, "available": 3, "total": 3}]
    patch_attempts:
      description: Conditional patches sent; more than one means concurrent writers caused a 409 Conflict.
      type: int
      returned: always
      sample: 1
    watch_reconnects:
      description: How often a watch connection dropped and was resumed during the wait.
      type: int
      returned: always
      sample: 0
    rolled_back:
      description: Whether every container this task changed on this target has its previous image again and that
        rollout completed.
      type: bool
      returned: always
    rollback:
      description:
        - The rollback of this target (status, reason, message, images restored, containers left alone, timeline),
          when one happened - after a failed rollout with O(rollback_on_failure), or after a write that failed on
          another target.
        - C(status) is C(complete), C(failed), C(timed_out), or C(skipped) (nothing to restore, or O(wait=false)).
      type: dict
      returned: always
diff:
  description: Images before and after, keyed C(Kind/namespace/name), then container name.
  returned: in diff mode
  type: dict
  sample: {"before": {"Deployment/default/web": {"web": "app:1"}}, "after": {"Deployment/default/web": {"web": "app:2"}}}
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_runner import check_request, set_images


def main():
    module = rollout_module(dict(
        containers=dict(type="dict", required=True),
        wait=dict(type="bool", default=True),
        rollback_on_failure=dict(type="bool", default=False),
        change_cause=dict(type="str"),
    ))
    run_task(module, check_request(module.params),
             lambda client, params: set_images(client, params, module.check_mode),
             problems_prefix="nothing was changed: ")


if __name__ == "__main__":
    main()
