#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_preflight
short_description: Ask, before building anything, whether set_image can roll out a workload
version_added: 0.1.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Reads the workload M(kubedev.devloop.set_image) will change and asks the API server, one
    C(SelfSubjectAccessReview) per verb (the question C(kubectl auth can-i) asks), whether the identity of the
    connection has every permission set_image needs to set its image and wait for the rollout.
  - Returns whether the workload exists, its containers and their images, the containers named in O(containers)
    that it lacks, and the permissions the identity has and lacks - so a playbook fails before it builds and
    pushes an image, with a message naming what to fix, instead of after.
  - Never fails because the workload, a container or a permission is missing; it fails only when the questions
    cannot be asked (a cluster that does not answer, a kubeconfig that cannot be used, an identity the API server
    does not accept), with a message saying which.
  - One module run, with the collection's own small API client, for what would otherwise take three
    (M(kubernetes.core.k8s_cluster_info), M(kubedev.devloop.access_review), M(kubernetes.core.k8s_info)).
extends_documentation_fragment:
  - kubedev.devloop.connection
options:
  kind:
    description: Kind of the workload.
    type: str
    default: Deployment
    choices: [DaemonSet, Deployment, StatefulSet]
  name:
    description: Name of the workload.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the workload, and of the permissions asked about.
      - Defaults to the namespace of the kubeconfig context, or C(default).
    type: str
  containers:
    description:
      - Names of the containers (or init containers) the rollout will set; the ones the workload lacks are returned
        in RV(missing_containers).
    type: list
    elements: str
    default: []
  rules_for:
    description:
      - Whose permissions O(rules) defaults to - M(kubedev.devloop.set_image)'s (the default),
        M(kubedev.devloop.rollout_undo)'s (C(get), C(list), C(watch), C(patch) on the workloads, C(get), C(list),
        C(watch) on C(replicasets) (Deployment) or C(controllerrevisions) (StatefulSet, DaemonSet), C(list),
        C(watch) on C(pods); C(docs/rbac/rollout_undo-role.yml)), or M(kubedev.devloop.rollout_history)'s (C(get) on
        the workloads, C(list) on C(replicasets) or C(controllerrevisions)).
    type: str
    default: set_image
    choices: [rollout_history, rollout_undo, set_image]
    version_added: 0.2.0
  rules:
    description:
      - The permissions to ask about, as in M(kubedev.devloop.access_review).
      - Defaults to what the module O(rules_for) names needs for O(kind); for set_image, what it needs with a
        wait - the rules of C(docs/rbac/set_image-role.yml) in this collection that concern it - C(get), C(list),
        C(watch), C(patch) on the workloads, C(get), C(list), C(watch) on C(replicasets) (Deployment) or
        C(controllerrevisions) (DaemonSet), C(list), C(watch) on C(pods).
    type: list
    elements: dict
    suboptions:
      group:
        description: API group of the resource, C("") (the default) for the core group.
        type: str
        default: ""
      resource:
        description: Resource in its plural form, for example C(deployments) or C(pods).
        type: str
        required: true
      subresource:
        description: Subresource, for example C(scale) or C(log).
        type: str
        default: ""
      name:
        description: One object by name; empty asks about every object of the resource.
        type: str
        default: ""
      verbs:
        description: The verbs to ask about, for example C([get, list, watch, patch]).
        type: list
        elements: str
        required: true
      cluster_scoped:
        description: Ask about the resource across the cluster instead of in O(namespace).
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description:
      - The module only asks, so it asks in check mode too.
  diff_mode:
    support: none
    description:
      - Nothing changes, so there is no difference to show.
notes:
  - "Permissions: C(get) on the workload to read it; none to ask the reviews (every identity may create
    C(SelfSubjectAccessReviews))."
  - An answer says what the authorizers allow, not whether an admission webhook or a quota would later refuse the
    change; set_image sends every patch as a server-side dry run first, which asks them.
seealso:
  - module: kubedev.devloop.set_image
  - module: kubedev.devloop.access_review
  - name: kubectl auth can-i
    description: The command line equivalent of one permission question.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_auth/kubectl_auth_can-i/
"""

EXAMPLES = r"""
- name: Ask whether this identity may undo the web Deployment's last rollout
  kubedev.devloop.rollout_preflight:
    name: web-deployment
    rules_for: rollout_undo
  register: undo_preflight

- name: Ask whether the web Deployment can be rolled out, before building its image
  kubedev.devloop.rollout_preflight:
    name: web-deployment
    namespace: dev
    containers: [web]
  register: preflight

- name: Fail, naming what is missing
  ansible.builtin.assert:
    that:
      - preflight.denied | length == 0
      - preflight.found
      - preflight.missing_containers | length == 0
    fail_msg: >-
      {{ ('may not ' ~ preflight.denied | join(', ')) if preflight.denied
         else 'no Deployment web-deployment in dev' if not preflight.found
         else 'no container ' ~ preflight.missing_containers | join(', ') ~ '; it has ' ~ preflight.images | list | join(', ') }}
"""

RETURN = r"""
changed:
  description: Always false; the module only asks.
  returned: always
  type: bool
found:
  description: Whether the workload exists; null when the identity may not read it (RV(denied) then names C(get)).
  returned: success
  type: bool
  sample: true
images:
  description: Every container and init container of the workload, with its image; empty when it was not found.
  returned: success
  type: dict
  sample: {web: "127.0.0.1:5000/sample-app:1.0.0-3f2a9c1e0b7d"}
missing_containers:
  description: The names in O(containers) the workload has no container or init container of.
  returned: success
  type: list
  elements: str
  sample: [app]
allowed:
  description: The permissions the identity has, as C(VERB RESOURCE[.GROUP][/SUBRESOURCE]).
  returned: success
  type: list
  elements: str
  sample: [get deployments.apps, list pods]
denied:
  description: The permissions it lacks, in the same form; empty when it has them all.
  returned: success
  type: list
  elements: str
  sample: [patch deployments.apps]
reviews:
  description: Every permission question and its answer, as M(kubedev.devloop.access_review) returns them.
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.access_review import RULE_ARG_SPEC, rule_problems
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import kube_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_preflight import RULE_SETS, preflight
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import target_problems
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import WORKLOADS


def main():
    module = kube_module(dict(
        kind=dict(type="str", default="Deployment", choices=sorted(WORKLOADS)),
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
        containers=dict(type="list", elements="str", default=[]),
        rules=dict(type="list", elements="dict", options=RULE_ARG_SPEC),
        rules_for=dict(type="str", default="set_image", choices=sorted(RULE_SETS)),
    ))
    params = module.params
    rules = params["rules"] if params["rules"] is not None else RULE_SETS[params["rules_for"]](params["kind"])
    problems = target_problems(dict(name=[params["name"]], namespace=params["namespace"])) + rule_problems(rules)
    run_task(module, problems,
             lambda client, resolved: preflight(client, resolved["kind"], resolved["namespace"], resolved["name"],
                                                resolved["containers"], rules))


if __name__ == "__main__":
    main()
