#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: access_review
short_description: Ask the API server which verbs the current identity may use, like kubectl auth can-i
version_added: 0.1.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Posts one C(SelfSubjectAccessReview) per verb of every rule - the question C(kubectl auth can-i VERB RESOURCE)
    asks - and returns the permissions the identity of the connection has and the ones it lacks.
  - A playbook asks before it changes anything, so a missing permission fails the run up front, naming every verb
    that is missing, instead of half-way through.
  - Never fails because a permission is missing; it fails only when the question cannot be asked (a cluster that
    does not answer, a kubeconfig that cannot be used, an identity the API server does not accept).
  - One module run for all the questions, with the collection's own small API client; M(kubernetes.core.k8s) with a
    list of C(SelfSubjectAccessReview) definitions gives the same answers, after importing the kubernetes client
    and discovering the API, which takes longer.
extends_documentation_fragment:
  - kubedev.devloop.connection
options:
  namespace:
    description:
      - Namespace the rules that are not O(rules[].cluster_scoped) ask about.
      - Defaults to the namespace of the kubeconfig context, or C(default).
    type: str
  rules:
    description:
      - What to ask about; every verb of a rule is one question.
    type: list
    elements: dict
    required: true
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
        description: Ask about the resource across the cluster (for cluster-scoped resources such as C(namespaces)
          or C(nodes)) instead of in O(namespace).
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description:
      - A review is a question, not a change, so it is asked in check mode too.
  diff_mode:
    support: none
    description:
      - Nothing changes, so there is no difference to show.
notes:
  - "Permissions: none beyond being authenticated; every identity may create C(SelfSubjectAccessReviews)."
  - An answer says what the authorizers allow, not whether an admission webhook or a quota would later refuse a
    change.
seealso:
  - module: kubedev.devloop.set_image
  - name: kubectl auth can-i
    description: The command line equivalent, one question at a time.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_auth/kubectl_auth_can-i/
"""

EXAMPLES = r"""
- name: Ask whether this identity may roll out in namespace dev
  kubedev.devloop.access_review:
    namespace: dev
    rules:
      - {group: apps, resource: deployments, verbs: [get, list, watch, patch]}
      - {group: apps, resource: replicasets, verbs: [get, list, watch]}
      - {resource: pods, verbs: [list, watch]}
  register: access

- name: Fail, naming what is missing
  ansible.builtin.assert:
    that: access.denied | length == 0
    fail_msg: "This identity may not {{ access.denied | join(', ') }} in namespace dev."

- name: Ask about a cluster-scoped resource
  kubedev.devloop.access_review:
    rules:
      - {resource: namespaces, verbs: [get, create], cluster_scoped: true}
"""

RETURN = r"""
changed:
  description: Always false; the module only asks.
  returned: always
  type: bool
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
  description: Every question and its answer, in the order asked.
  returned: success
  type: list
  elements: dict
  contains:
    verb:
      description: The verb asked about.
      type: str
      returned: always
    group:
      description: API group of the resource.
      type: str
      returned: always
    resource:
      description: The resource.
      type: str
      returned: always
    namespace:
      description: The namespace asked about, empty for a cluster-scoped rule.
      type: str
      returned: always
    permission:
      description: The permission as RV(allowed) and RV(denied) name it.
      type: str
      returned: always
    allowed:
      description: Whether the identity may.
      type: bool
      returned: always
    denied:
      description: Whether an authorizer denied it outright (false with RV(reviews[].allowed=false) means none
        allowed it).
      type: bool
      returned: always
    reason:
      description: Why, when the authorizer said, for example the RBAC binding that allows it.
      type: str
      returned: always
    evaluation_error:
      description: An error of the authorizer while answering (a rule it could not read), when there was one.
      type: str
      returned: always
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.access_review import RULE_ARG_SPEC, review_access, rule_problems
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import kube_module, run_task
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.names import namespace_problem


def main():
    module = kube_module(dict(
        namespace=dict(type="str"),
        rules=dict(type="list", elements="dict", required=True, options=RULE_ARG_SPEC),
    ))
    problems = rule_problems(module.params["rules"])
    if module.params["namespace"] is not None:
        problems.append(namespace_problem(module.params["namespace"]))
    run_task(module, [problem for problem in problems if problem],
             lambda client, params: review_access(client, params["namespace"], params["rules"]))


if __name__ == "__main__":
    main()
