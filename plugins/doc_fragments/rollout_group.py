# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action group the rollout modules belong to (meta/runtime.yml action_groups.rollout)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
attributes:
  action_group:
    support: full
    membership:
      - kubedev.devloop.rollout
    description:
      - Use C(group/kubedev.devloop.rollout) in C(module_defaults) to set defaults (for example the connection
        options) for M(kubedev.devloop.set_image), M(kubedev.devloop.rollout_status),
        M(kubedev.devloop.rollout_history) and M(kubedev.devloop.rollout_undo) at once.
"""
