# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the rollout_preflight module asks before a playbook builds anything: does the workload exist with the
containers it will set, and may this identity do everything set_image does to it. One module run for what took
three (cluster version, access review, object read), with the answers as lists a playbook words its message from."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import WORKLOADS
from ansible_collections.kubedev.devloop.plugins.module_utils.access_review import review_access
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_undo_runner import HISTORY_RESOURCES
from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_plan import current_images
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import REVISION_RESOURCES


def set_image_rules(kind):
    """The permissions set_image needs to set an image on a `kind` and wait for it: the rules of
    docs/rbac/set_image-role.yml that concern that kind."""
    rules = [dict(group="apps", resource=WORKLOADS[kind].plural, verbs=["get", "list", "watch", "patch"])]
    if kind in REVISION_RESOURCES:   # where the wait finds the new revision; a StatefulSet's is in its status
        revisions = REVISION_RESOURCES[kind]
        rules.append(dict(group=revisions.group, resource=revisions.plural, verbs=["get", "list", "watch"]))
    rules.append(dict(group="", resource="pods", verbs=["list", "watch"]))
    return [dict(rule, subresource="", name="", cluster_scoped=False) for rule in rules]


def rollout_undo_rules(kind):
    """The permissions rollout_undo needs to undo a `kind` and wait for it (docs/rbac/rollout_undo-role.yml): set_image's,
    and the history of every kind - a StatefulSet's ControllerRevisions too, which set_image does not read."""
    history = HISTORY_RESOURCES[kind]
    return [dict(group="apps", resource=WORKLOADS[kind].plural, verbs=["get", "list", "watch", "patch"],
                 subresource="", name="", cluster_scoped=False),
            dict(group=history.group, resource=history.plural, verbs=["get", "list", "watch"],
                 subresource="", name="", cluster_scoped=False),
            dict(group="", resource="pods", verbs=["list", "watch"], subresource="", name="", cluster_scoped=False)]


def rollout_history_rules(kind):
    """The permissions rollout_history needs to read the history of a `kind`."""
    history = HISTORY_RESOURCES[kind]
    return [dict(group="apps", resource=WORKLOADS[kind].plural, verbs=["get"], subresource="", name="",
                 cluster_scoped=False),
            dict(group=history.group, resource=history.plural, verbs=["list"], subresource="", name="",
                 cluster_scoped=False)]


# rollout_preflight's rules_for: the module whose permissions are asked about by default.
RULE_SETS = {"set_image": set_image_rules, "rollout_undo": rollout_undo_rules, "rollout_history": rollout_history_rules}


def preflight(client, kind, namespace, name, containers, rules):
    """Ask the permissions, then read the workload; returns the module result.

    found is None when the identity may not read the workload (denied then names get): a 403 says nothing
    about whether it exists. Fails (KubeError) only when the questions cannot be asked.
    """
    result = review_access(client, namespace, rules)
    try:
        obj = client.get(WORKLOADS[kind], namespace, name)
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        obj, found = None, (None if exc.status == 403 else False)
    else:
        found = True
    images = current_images(obj) if obj else {}
    result.update(found=found, images=images,
                  missing_containers=[container for container in containers if obj and container not in images])
    return result
