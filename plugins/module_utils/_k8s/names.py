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


def _dns_name_problem(value, what, kind, pattern, limit, rule):
    if not isinstance(value, str) or not value:
        return "%s must be a non-empty string, got %r" % (what, value)
    if len(value) > limit or not pattern.match(value):
        return ("%s %r is not a valid %s name (%s, starting and ending with a letter or digit, at most %d "
                "characters)" % (what, value, kind, rule, limit))
    return None


def object_name_problem(name, what="name"):
    """Why `name` cannot be a Deployment/StatefulSet/DaemonSet name (a DNS-1123 subdomain), or None."""
    return _dns_name_problem(name, what, "object", _DNS_SUBDOMAIN_RE, DNS_SUBDOMAIN_MAX,
                             "lowercase letters, digits, '-' and '.'")


def namespace_problem(namespace):
    """Why `namespace` cannot be a namespace name (a DNS-1123 label), or None."""
    return _dns_name_problem(namespace, "namespace", "namespace", _DNS_LABEL_RE, DNS_LABEL_MAX,
                             "lowercase letters, digits and '-'")


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
