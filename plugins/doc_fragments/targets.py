# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which workloads a kubedev.devloop rollout module acts on, and how long it waits for them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  name:
    description:
      - Name of the workload, or a list of names (all of kind O(kind) in O(namespace)).
      - Exactly one of O(name) and O(label_selectors) is required.
      - Names must be valid object names (DNS-1123 subdomains); an empty list is refused before any request.
    type: list
    elements: str
  label_selectors:
    description:
      - Label selectors (for example C(app=web) or C(tier in (front,back))); every workload of kind O(kind) in
        O(namespace) that matches all of them is a target. Matching none is an error.
      - An empty list, a blank selector or a blank requirement (C(app=web,)) is refused before any request - the
        API server reads an empty selector as "every workload".
    type: list
    elements: str
  namespace:
    description:
      - Namespace of the workloads. Defaults to the namespace of the kubeconfig context (in a pod without a kubeconfig,
        the pod's own namespace), else C(default), as kubectl does.
      - Must be a valid namespace name (a DNS-1123 label), checked before it goes into a request.
    type: str
  kind:
    description:
      - Kind of the workloads.
      - StatefulSets and DaemonSets must use the C(RollingUpdate) update strategy (with C(OnDelete) nothing rolls
        out until pods are deleted by hand, so there is nothing to wait for).
    type: str
    default: Deployment
    choices: [DaemonSet, Deployment, StatefulSet]
  wait_timeout:
    description:
      - How many seconds the whole wait may take, for all targets together. Must be positive.
      - When it runs out the task fails and says how far each rollout got, for example
        C(2 of 3 updated replicas available).
    type: int
    default: 300
  crashloop_restarts:
    description:
      - A container of the new revision in C(CrashLoopBackOff) fails the rollout once it has restarted this many
        times. C(0) fails at the first C(CrashLoopBackOff).
      - Raise it for applications that may crash a few times while their dependencies come up.
    type: int
    default: 2
  transient_failure_grace:
    description:
      - Seconds a pod failure that can heal by itself is waited through before it fails the rollout, counted from
        when the module first sees it on a container (and afresh once the container got past it).
      - Transient are image pulls failing because the registry is unreachable, overloaded or slow (connection
        refused or reset, timeouts, HTTP 429 and 5xx, name resolution temporarily failing, or a back-off whose
        message does not say why yet), C(CreateContainerConfigError) for a ConfigMap, Secret or key that does not
        exist (yet), and C(CreateContainerError) for a runtime deadline.
      - Permanent failures still fail at once - an image or tag that does not exist (not found, manifest unknown),
        C(unauthorized) or access denied, an invalid reference, a registry host that does not resolve
        (no such host), C(InvalidImageName), C(ErrImageNeverPull).
      - The default covers the kubelet's first four pull attempts (it retries after 10, 20 and 40 seconds). C(0)
        fails at the first failure of either kind.
    type: int
    default: 90
"""
