# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find the workloads a task names (names or label selectors) and the options both modules share."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError, KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.names import (
    label_selector_problem,
    namespace_problem,
    object_name_problem,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import WORKLOADS
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import DEFAULT_CRASHLOOP_RESTARTS
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import DEFAULT_TRANSIENT_GRACE

MAX_PARALLEL_REQUESTS = 8

TARGET_ARG_SPEC = dict(
    name=dict(type="list", elements="str"),
    label_selectors=dict(type="list", elements="str"),
    namespace=dict(type="str"),
    kind=dict(type="str", default="Deployment", choices=sorted(WORKLOADS)),
)
TARGET_MUTUALLY_EXCLUSIVE = [("name", "label_selectors")]
TARGET_REQUIRED_ONE_OF = [("name", "label_selectors")]

WAIT_ARG_SPEC = dict(
    wait_timeout=dict(type="int", default=300),
    crashloop_restarts=dict(type="int", default=DEFAULT_CRASHLOOP_RESTARTS),
    transient_failure_grace=dict(type="int", default=DEFAULT_TRANSIENT_GRACE),
)


def check_wait_options(params):
    """Messages for invalid wait options (checked before connecting)."""
    errors = []
    if params.get("wait_timeout") is not None and params["wait_timeout"] <= 0:
        errors.append("wait_timeout must be a positive number of seconds, got %d" % params["wait_timeout"])
    if params.get("crashloop_restarts") is not None and params["crashloop_restarts"] < 0:
        errors.append("crashloop_restarts must be 0 or more, got %d" % params["crashloop_restarts"])
    if params.get("transient_failure_grace") is not None and params["transient_failure_grace"] < 0:
        errors.append("transient_failure_grace must be 0 or more seconds, got %d" % params["transient_failure_grace"])
    return errors


def target_problems(params):
    """Problems with name / label_selectors / namespace as given (before any request)."""
    problems = []
    names = params.get("name")
    selectors = params.get("label_selectors")
    if names is not None and not names:
        problems.append("name is an empty list: name at least one workload")
    problems += [object_name_problem(name) for name in names or []]
    if selectors is not None and not selectors:
        problems.append("label_selectors is an empty list: it would select every workload; give at least one selector")
    problems += [label_selector_problem(selector) for selector in selectors or []]
    if params.get("namespace") is not None:
        problems.append(namespace_problem(params["namespace"]))
    return [problem for problem in problems if problem]


def check_task_options(params):
    """Messages for invalid targets (names, selectors, namespace) and wait options, before connecting."""
    return target_problems(params) + check_wait_options(params)


def parallel_map(function, items):
    """function over items with a few threads (requests are I/O bound); keeps order."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_REQUESTS, len(items))) as pool:
        return list(pool.map(function, items))


def fetch_targets(client, kind, namespace, names=None, label_selectors=None):
    """The workload objects, in the order named; raises KubeError with a clear message."""
    resource = WORKLOADS[kind]
    if names and len(set(names)) > 1:
        # One list instead of a get per name: many targets then cost one round trip.
        listing = client.list(resource, namespace)
        by_name = dict((item["metadata"]["name"], item) for item in listing.get("items") or [])
        missing = [name for name in dict.fromkeys(names) if name not in by_name]
        if missing:
            raise KubeError("; ".join("%s %r not found in namespace %r" % (kind, name, namespace) for name in missing))
        return [_self_describing(by_name[name], kind) for name in dict.fromkeys(names)]
    if names:
        unique = list(dict.fromkeys(names))

        def get_one(name):
            try:
                return client.get(resource, namespace, name)
            except ApiError as exc:
                if exc.status == 404:
                    return KubeError("%s %r not found in namespace %r" % (kind, name, namespace))
                return exc

        found = parallel_map(get_one, unique)
        errors = [str(obj) for obj in found if isinstance(obj, Exception)]
        if errors:
            raise KubeError("; ".join(errors))
        return found
    selector = ",".join(label_selectors)
    listing = client.list(resource, namespace, label_selector=selector)
    items = listing.get("items") or []
    if not items:
        raise KubeError("no %s in namespace %r matches the label selector %r" % (kind, namespace, selector))
    return sorted((_self_describing(item, kind) for item in items), key=lambda obj: obj["metadata"]["name"])


def _self_describing(item, kind):
    """List items carry no kind/apiVersion; add them so every object looks like a GET's."""
    item.setdefault("kind", kind)
    item.setdefault("apiVersion", WORKLOADS[kind].api_version)
    return item
