# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of object names, namespaces and label selectors before they go into a request URL.

Pure functions returning a problem (a sentence) or None. A name like '../pods' or 'web?dryRun=All'
must never reach a URL; an empty label selector selects everything, so it is refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# RFC 1123 (the API server's rules for workload names and namespaces)
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(r"^%s$" % _DNS_LABEL)
_DNS_SUBDOMAIN_RE = re.compile(r"^%s(\.%s)*$" % (_DNS_LABEL, _DNS_LABEL))
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253


def object_name_problem(name, what="name"):
    """Why `name` cannot be a Deployment/StatefulSet/DaemonSet name (a DNS-1123 subdomain), or None."""
    if not isinstance(name, str) or not name:
        return "%s must be a non-empty string, got %r" % (what, name)
    if len(name) > DNS_SUBDOMAIN_MAX or not _DNS_SUBDOMAIN_RE.match(name):
        return ("%s %r is not a valid object name (lowercase letters, digits, '-' and '.', starting and ending "
                "with a letter or digit, at most %d characters)" % (what, name, DNS_SUBDOMAIN_MAX))
    return None


def namespace_problem(namespace):
    """Why `namespace` cannot be a namespace name (a DNS-1123 label), or None."""
    if not isinstance(namespace, str) or not namespace:
        return "namespace must be a non-empty string, got %r" % (namespace,)
    if len(namespace) > DNS_LABEL_MAX or not _DNS_LABEL_RE.match(namespace):
        return ("namespace %r is not a valid namespace name (lowercase letters, digits and '-', starting and "
                "ending with a letter or digit, at most %d characters)" % (namespace, DNS_LABEL_MAX))
    return None


def split_selector(selector):
    """The requirements of a label selector string: split at commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def label_selector_problem(selector):
    """Why a label selector must be refused before it is sent, or None.

    Blank selectors and blank requirements ('app=web,') are refused: the API server treats an empty
    selector as 'everything', so a templating slip would otherwise act on every workload. The rest of
    the grammar is the API server's to check (a 400 there comes before any write).
    """
    if not isinstance(selector, str) or not selector.strip():
        return "label selector %r is empty: it would select every workload; name at least one label" % (selector,)
    if any(not part.strip() for part in split_selector(selector)):
        return "label selector %r has an empty requirement (a stray comma?)" % selector
    return None


def target_problems(params):
    """Problems with name / label_selectors / namespace as given (before any request)."""
    problems = []
    names = params.get("name")
    selectors = params.get("label_selectors")
    if names is not None and not names:
        problems.append("name is an empty list: name at least one workload")
    for name in names or []:
        problem = object_name_problem(name)
        if problem:
            problems.append(problem)
    if selectors is not None and not selectors:
        problems.append("label_selectors is an empty list: it would select every workload; give at least one selector")
    for selector in selectors or []:
        problem = label_selector_problem(selector)
        if problem:
            problems.append(problem)
    if params.get("namespace") is not None:
        problem = namespace_problem(params["namespace"])
        if problem:
            problems.append(problem)
    return problems
