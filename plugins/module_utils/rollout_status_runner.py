# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What kubedev.devloop.rollout_status does: find the targets and wait for them (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import update_strategy_error
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import fetch_targets
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_target import COMPLETE, RolloutTarget
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import RolloutWaiter


def wait_for_rollouts(client, params):
    """Returns the result dict (failed=True and msg when a rollout failed); raises KubeError for bad targets."""
    kind = params["kind"]
    objects = fetch_targets(client, kind, params["namespace"], params.get("name"), params.get("label_selectors"))
    problems = [p for p in (update_strategy_error(kind, obj) for obj in objects) if p]
    if problems:
        raise KubeError("; ".join(problems))
    targets = [RolloutTarget(kind, obj) for obj in objects]
    RolloutWaiter(client, targets, params["wait_timeout"], params["crashloop_restarts"],
                  transient_grace=params["transient_failure_grace"]).run()
    entries = []
    failures = []
    for target in targets:
        entry = {"kind": kind, "name": target.name, "namespace": target.namespace}
        entry.update(target.result())
        entries.append(entry)
        if entry["status"] != COMPLETE:
            failures.append(target.outcome_line())
    result = {"changed": False, "targets": entries}
    if failures:
        result.update(failed=True, msg="; ".join(failures))
    return result
