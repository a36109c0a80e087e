# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AnsibleModule plumbing the collection's modules share (set_image, rollout_status, access_review), so they
stay thin.

Options (targets, wait, connection), the kubernetes client check, input problems reported before
connecting, the client of the connection resolved once, API server warnings, and the result: exit or fail.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import AUTH_ARG_SPEC, resolve_connection
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError, error_text
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.kubeconfig import secret_values, string_leaves
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.names import namespace_problem
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import (
    TARGET_ARG_SPEC,
    TARGET_MUTUALLY_EXCLUSIVE,
    TARGET_REQUIRED_ONE_OF,
    WAIT_ARG_SPEC,
)


def rollout_module(extra_argument_spec=None):
    """An AnsibleModule with the module's own options plus the target, wait and connection ones.

    Fails right away when the kubernetes Python client is missing.
    """
    argument_spec = dict(extra_argument_spec or {})
    argument_spec.update(TARGET_ARG_SPEC)
    argument_spec.update(WAIT_ARG_SPEC)
    return kube_module(argument_spec, mutually_exclusive=TARGET_MUTUALLY_EXCLUSIVE,
                       required_one_of=TARGET_REQUIRED_ONE_OF)


def kube_module(argument_spec, **module_args):
    """An AnsibleModule with the module's own options plus the connection ones, secrets masked as
    _mask_only_secrets says. Fails right away when the kubernetes Python client is missing."""
    argument_spec = dict(argument_spec)
    argument_spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **module_args)
    _mask_only_secrets(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    return module


def _mask_only_secrets(module):
    """kubeconfig and proxy are no_log: never logged, never in the invocation. Ansible would also mask
    every string inside them wherever it appears in the result - a kubeconfig dict's "v1", its server
    URL, its namespace "default" - which garbles every message. Keep masking only what is secret: the
    credentials of a kubeconfig's users and a proxy URL's password."""
    public, secrets = set(), set()
    for option in ("kubeconfig", "proxy"):
        value = module.params.get(option)
        if value is not None:
            secrets |= secret_values(value)
            public |= set(string_leaves(value)) - secret_values(value)
    others = set()
    for name, spec in module.argument_spec.items():
        if spec.get("no_log") and name not in ("kubeconfig", "proxy") and module.params.get(name) is not None:
            others |= set(string_leaves(module.params[name]))
    module.no_log_values -= public - others
    module.no_log_values |= secrets


def error_result(exc):
    """The failed result of an exception (errors.error_text), with the traceback for -vvv when it is no
    KubeError; run_task masks both."""
    result = dict(changed=False, failed=True, msg=error_text(exc))
    if not isinstance(exc, KubeError):
        result["exception"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return result


def run_task(module, problems, task, problems_prefix=""):
    """Fail on input problems without connecting; else run task(client, params) and finish the module.

    The connection is resolved once, into the client task gets; a namespace left out is the one of
    the kubeconfig context in use. task returns the result dict; failed=True (with msg) in it fails the
    task, and its diff is kept only in diff mode. A KubeError fails the task with changed=False. API
    server warnings seen by the client become Ansible warnings either way.
    """
    if problems:
        module.fail_json(msg=problems_prefix + "; ".join(problems), changed=False)
    params = dict(module.params)
    client = None
    try:
        client = KubeClient(resolve_connection(params))
        params["namespace"] = params["namespace"] or client.default_namespace
        problem = namespace_problem(params["namespace"])   # the kubeconfig context's, not checked yet
        if problem:
            raise KubeError(problems_prefix + problem)
        result = task(client, params)
    except Exception as exc:  # every failure leaves through error_result, which masks credentials
        result = error_result(exc)
    # Credentials read from a kubeconfig file or a plugin are no option Ansible knows to mask.
    module.no_log_values |= credentials.known()
    for warning in (client.warnings if client else []):
        module.warn(credentials.redact("API server warning: %s" % warning))
    for warning in result.pop("warnings", None) or []:
        module.warn(credentials.redact(warning))
    # The one place a failure's words are masked: the task's own failures and error_result's alike.
    for field in ("msg", "exception"):
        if result.get("failed") and field in result:
            result[field] = credentials.redact(result[field])
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    # Nothing is freed from here on: spare the interpreter's last collection at exit (some 15 ms of the
    # time between a rollout's end and the task's return).
    gc.freeze()
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)
