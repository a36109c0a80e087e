# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors from the Kubernetes API, turned into messages a user can act on."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

RBAC_DOC = "docs/rbac/set_image-role.yml in the kubedev.devloop collection"

# "... is forbidden: User "x" cannot patch resource "deployments" in API group "apps" in the namespace "ns""
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]+)")?')


class KubeError(Exception):
    """Any failure talking to the API server; str() is the user-facing message."""


def error_text(exc):
    """A failure's words for the user: a KubeError's message as written; anything else (a bug, a library's
    surprise) named by its type."""
    return str(exc) if isinstance(exc, KubeError) else "unexpected error (%s): %s" % (type(exc).__name__, exc)


class ApiUnreachable(KubeError):
    """No HTTP answer at all: connection refused, TLS failure, DNS, timeout."""


class ApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(self, status, body, action):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.raw_body = body if not isinstance(body, dict) else None
        self.action = action
        super(ApiError, self).__init__(describe_api_error(status, self.body, action, self.raw_body))

    @property
    def reason(self):
        return self.body.get("reason")

    @property
    def server_message(self):
        return self.body.get("message") or (self.raw_body or "")


class Action(object):
    """What we tried to do, so error messages can name verb, resource, namespace and name."""

    def __init__(self, verb, resource, group="", namespace=None, name=None, host=None):
        self.verb = verb
        self.resource = resource
        self.group = group
        self.namespace = namespace
        self.name = name
        self.host = host

    def describe(self):
        resource = self.resource + ("." + self.group if self.group else "")
        what = "%s %s" % (self.verb, resource)
        if self.name:
            what += " %r" % self.name
        if self.namespace:
            what += " in namespace %r" % self.namespace
        return what


def parse_body(raw):
    """The JSON body of an error response, or the raw text when it is not JSON."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return parsed if isinstance(parsed, dict) else raw


def describe_forbidden(body, action):
    message = body.get("message") or ""
    match = _FORBIDDEN.search(message)
    verb = match.group("verb") if match else action.verb
    resource = match.group("resource") if match else action.resource
    group = (match.group("group") if match else action.group) or ""
    namespace = (match.group("namespace") if match else action.namespace) or "(cluster scope)"
    user = match.group("user") if match else "the current user"
    group_text = group if group else "core"
    return ("403 Forbidden: %s may not %s %s (API group %s) in namespace %s. Grant the verb %r on resource "
            "%r in API group %r to this identity (least-privilege Role: %s). API server: %s"
            % (user, verb, resource, group_text, namespace, verb, resource, group, RBAC_DOC, message))


def describe_api_error(status, body, action, raw_body=None):
    message = body.get("message") or (raw_body if isinstance(raw_body, str) else "") or ""
    if status == 401:
        return ("401 Unauthorized: the API server at %s rejected our credentials while trying to %s; check "
                "api_key, the client certificate or the kubeconfig user (%s)"
                % (action.host or "?", action.describe(), message or "no details"))
    if status == 403:
        return describe_forbidden(body, action)
    if status == 404:
        return "404 Not Found: %s: %s" % (action.describe(), message or "not found")
    if status == 409:
        return "409 Conflict: %s: %s" % (action.describe(), message)
    if status == 422:
        return "422 Invalid: the API server rejected the change (%s): %s" % (action.describe(), message)
    reason = body.get("reason") or "error"
    return "%s %s: %s: %s" % (status, reason, action.describe(), message)


def describe_unreachable(host, exc):
    """Message for a request that got no HTTP answer; exc is the urllib3/OS error."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    kind = type(reason).__name__
    if "SSL" in kind or "CERTIFICATE" in text.upper() or "SSL" in text.upper():
        return ("TLS error talking to the Kubernetes API at %s: %s. Check ca_cert (or the kubeconfig's "
                "certificate-authority) and client_cert/client_key; validate_certs: false skips server "
                "certificate verification" % (host, text))
    if "refused" in text.lower():
        return ("the Kubernetes API at %s is unreachable: connection refused (is the API server running, and are "
                "host / kubeconfig / context right?)" % host)
    if "timed out" in text.lower() or "timeout" in kind.lower():
        return "the Kubernetes API at %s is unreachable: the connection timed out (%s)" % (host, text)
    if "resolution" in text.lower() or "Name or service not known" in text or "nodename nor servname" in text:
        # The resolver's own words, without urllib3's wrapping: "... ([Errno -2] Name or service not known)".
        said = re.search(r"\[Errno -?[0-9]+\] ([^()'\"]+)", text)
        return "the Kubernetes API at %s is unreachable: the host name does not resolve (%s)" % (
            host, said.group(1).strip() if said else text)
    return "the Kubernetes API at %s is unreachable: %s" % (host, text)
