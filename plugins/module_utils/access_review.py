# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the access_review module asks: one SelfSubjectAccessReview per verb of each rule, the question
`kubectl auth can-i VERB RESOURCE` asks, and the answers as lists a playbook can word a message from."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import Action
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import SELF_SUBJECT_ACCESS_REVIEWS_PATH

RULE_ARG_SPEC = dict(
    group=dict(type="str", default=""),
    resource=dict(type="str", required=True),
    subresource=dict(type="str", default=""),
    name=dict(type="str", default=""),
    verbs=dict(type="list", elements="str", required=True),
    cluster_scoped=dict(type="bool", default=False),
)


def rule_problems(rules):
    """Input problems found before connecting: an empty resource or verb has no answer."""
    problems = []
    for index, rule in enumerate(rules):
        if not rule["resource"].strip():
            problems.append("rules[%d].resource is empty: expected a resource such as deployments" % index)
        if not rule["verbs"] or not all(verb.strip() for verb in rule["verbs"]):
            problems.append("rules[%d].verbs is empty or has an empty verb: expected verbs such as [get, patch]" % index)
    return problems


def permission_name(attributes):
    """'patch deployments.apps', 'list pods', 'get deployments.apps/scale' - how the answers name a permission."""
    resource = attributes["resource"] + ("." + attributes["group"] if attributes.get("group") else "")
    if attributes.get("subresource"):
        resource += "/" + attributes["subresource"]
    return attributes["verb"] + " " + resource


def review_access(client, namespace, rules):
    """Ask every verb of every rule; returns the module result (allowed, denied, reviews)."""
    reviews = []
    for rule in rules:
        for verb in rule["verbs"]:
            attributes = dict(verb=verb.strip(), group=rule["group"], resource=rule["resource"])
            for key in ("subresource", "name"):
                if rule[key]:
                    attributes[key] = rule[key]
            if not rule["cluster_scoped"]:
                attributes["namespace"] = namespace
            answer = client.request(
                "POST", SELF_SUBJECT_ACCESS_REVIEWS_PATH, Action("create", "selfsubjectaccessreviews", "authorization.k8s.io"),
                body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                      "spec": {"resourceAttributes": attributes}})
            status = answer.get("status") or {}
            reviews.append(dict(attributes, namespace=attributes.get("namespace", ""),
                                permission=permission_name(attributes), allowed=bool(status.get("allowed")),
                                denied=bool(status.get("denied")), reason=status.get("reason", ""),
                                evaluation_error=status.get("evaluationError", "")))
    return dict(changed=False,
                allowed=[review["permission"] for review in reviews if review["allowed"]],
                denied=[review["permission"] for review in reviews if not review["allowed"]],
                reviews=reviews)
