# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small JSON client for the Kubernetes API, over urllib3.

It takes the settings connection.py resolved: kubeconfig.py's ConnectionSettings or the kubernetes
client's Configuration, whose attribute names they share. It speaks plain JSON as the API server does:
objects stay camelCase dicts, and watch streams are read line by line as they arrive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import ipaddress
import json
import re
import threading
import traceback
from urllib.parse import quote, unquote, urlencode, urlparse
from urllib.request import getproxies

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import (
    ApiError,
    ApiUnreachable,
    KubeError,
    describe_unreachable,
    parse_body,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.kubeconfig import proxy_problem

try:
    import urllib3
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    # Found, not imported: only connections kubeconfig.py leaves to it import the kubernetes client.
    HAS_KUBERNETES = importlib.util.find_spec("kubernetes") is not None
    KUBERNETES_IMPORT_ERROR = None if HAS_KUBERNETES else "No module named 'kubernetes'"

# Ordinary requests: short connect timeout, generous read timeout (a dry-run patch runs admission).
REQUEST_TIMEOUT = (10, 60)
# A Table when the server can print the resource, else the plain JSON list (as kubectl get asks).
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
# RFC 7234 warning: 299 - "text"; the API server sends these for PodSecurity 'warn' and deprecations.
_WARNING_TEXT = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')
# RFC 7230 token characters but '%', which escapes the others in Impersonate-Extra-<key>.
_HEADER_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'*+-.^_`|~")


def _proxy_from_environment(configuration):
    """Whether the configured proxy is merely HTTPS_PROXY/HTTP_PROXY (not the option or proxy-url)."""
    scheme = urlparse(configuration.host).scheme or "https"
    return configuration.proxy == getproxies().get(scheme)


def _bypass_proxy(host, no_proxy, from_environment=False):
    """Like kubectl (Go's net/http): a proxy from the environment is never used for loopback;
    NO_PROXY takes names, domain suffixes, IP addresses, CIDR ranges and '*'."""
    hostname = (urlparse(host).hostname or "").lower()
    address = None
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        if hostname == "localhost" and from_environment:
            return True
    if address is not None and address.is_loopback and from_environment:
        return True
    for entry in (no_proxy or "").split(","):
        entry = entry.strip().lower().lstrip(".")
        if not entry:
            continue
        if entry == "*" or hostname == entry or hostname.endswith("." + entry):
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _proxy_credentials(proxy, proxy_headers):
    """A proxy URL's user:password become Proxy-Authorization, as kubectl sends them (urllib3 does not)."""
    parsed = urllib3.util.parse_url(proxy)
    if not parsed.auth:
        return proxy, proxy_headers
    user, _sep, password = unquote(parsed.auth).partition(":")
    credentials.remember_basic_auth(user, password)
    headers = dict(proxy_headers or {})
    headers.setdefault("Proxy-Authorization", urllib3.util.make_headers(
        proxy_basic_auth=unquote(parsed.auth))["proxy-authorization"])
    return parsed._replace(auth=None).url, headers


def _escape_extra_key(key):
    """An as-user-extra key as a header name suffix: percent-encode what a header name cannot hold
    (and '%' itself); the API server decodes it."""
    return "".join(char if char in _HEADER_NAME_CHARS else quote(char, safe="") for char in key)


def impersonation_headers(impersonate):
    """(name, value) pairs of the Impersonate-* headers for dict(user, uid, groups, extra), in a stable order."""
    if not impersonate:
        return []
    headers = [("Impersonate-User", impersonate["user"])]
    if impersonate.get("uid"):
        headers.append(("Impersonate-Uid", impersonate["uid"]))
    headers += [("Impersonate-Group", group) for group in impersonate.get("groups") or []]
    for key, values in sorted((impersonate.get("extra") or {}).items()):
        headers += [("Impersonate-Extra-" + _escape_extra_key(key), value) for value in values]
    return headers


def _bearer_token(configuration):
    """The Authorization value of a bearer token, kept in api_key the way kubernetes.client.Configuration
    keeps it (ConnectionSettings does the same); the kubernetes loader's hook renews an expiring one
    (exec plugins) first, as Configuration.auth_settings() does."""
    if configuration.refresh_api_key_hook is not None:
        configuration.refresh_api_key_hook(configuration)
    keys = configuration.api_key or {}
    authorization = keys.get("BearerToken", keys.get("authorization"))
    credentials.remember(authorization)
    if authorization and authorization.startswith("Bearer "):
        credentials.remember(authorization[len("Bearer "):])
    return authorization


class KubeClient(object):
    """JSON requests and watch streams against the API server of one resolved Connection (connection.py)."""

    def __init__(self, connection, pool_size=32):
        configuration = connection.settings
        self.configuration = configuration
        self.default_namespace = connection.namespace
        self.host = configuration.host
        self.warnings = []          # Warning headers of API responses, for module.warn()
        self._lock = threading.Lock()
        pool_args = dict(
            maxsize=pool_size,
            cert_reqs="CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE",
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )
        if not configuration.verify_ssl:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        server_name = getattr(configuration, "tls_server_name", None)
        if server_name:
            pool_args["server_hostname"] = server_name
        proxy = getattr(configuration, "proxy", None)
        if proxy and not _bypass_proxy(self.host, getattr(configuration, "no_proxy", None),
                                       _proxy_from_environment(configuration)):
            problem = proxy_problem(proxy)
            if problem:
                raise KubeError("cannot use the proxy: " + problem)
            proxy, proxy_headers = _proxy_credentials(proxy, getattr(configuration, "proxy_headers", None))
            self.pool = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **pool_args)
        else:
            self.pool = urllib3.PoolManager(**pool_args)

    def _headers(self, content_type=None):
        # HTTPHeaderDict: Impersonate-Group and Impersonate-Extra-* repeat, one line per value.
        headers = urllib3.HTTPHeaderDict({"Accept": "application/json", "User-Agent": "kubedev.devloop"})
        if content_type:
            headers["Content-Type"] = content_type
        authorization = _bearer_token(self.configuration)
        if authorization:
            headers["Authorization"] = authorization
        elif getattr(self.configuration, "username", None) and getattr(self.configuration, "password", None):
            credentials.remember_basic_auth(self.configuration.username, self.configuration.password)
            headers.update(urllib3.util.make_headers(
                basic_auth="%s:%s" % (self.configuration.username, self.configuration.password)))
        for name, value in impersonation_headers(getattr(self.configuration, "impersonate", None)):
            headers.add(name, value)
        return headers

    def _url(self, path, query):
        query = dict((k, v) for k, v in (query or {}).items() if v is not None)
        return self.host + path + ("?" + urlencode(query) if query else "")

    def request(self, method, path, action, query=None, body=None, content_type=None, timeout=REQUEST_TIMEOUT,
                accept=None):
        """One request; returns the decoded JSON body or raises ApiError / ApiUnreachable."""
        action.host = self.host
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = self._headers(content_type or ("application/json" if data else None))
        if accept:
            headers["Accept"] = accept
        # The API server compresses large responses (a list of 50 Deployments) when asked, as kubectl does.
        headers["Accept-Encoding"] = "gzip"
        try:
            resp = self.pool.request(
                method, self._url(path, query), body=data, headers=headers,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                retries=urllib3.Retry(total=3, connect=3, read=1, redirect=0, status=0,
                                      backoff_factor=0.2, raise_on_status=False),
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiUnreachable(describe_unreachable(self.host, exc))
        self._keep_warnings(resp)
        if resp.status >= 400:
            raise ApiError(resp.status, parse_body(resp.data), action)
        return json.loads(resp.data.decode("utf-8")) if resp.data else {}

    def _keep_warnings(self, resp):
        for header in resp.headers.getlist("Warning"):
            match = _WARNING_TEXT.match(header)
            text = match.group("text").replace('\\"', '"') if match else header
            with self._lock:
                if text not in self.warnings:
                    self.warnings.append(text)

    def open_stream(self, path, action, query, read_timeout):
        """Start a streaming GET (a watch); the caller reads lines from the returned response."""
        action.host = self.host
        try:
            resp = self.pool.request(
                "GET", self._url(path, query), headers=self._headers(),
                timeout=urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=read_timeout),
                retries=False, preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiUnreachable(describe_unreachable(self.host, exc))
        if resp.status >= 400:
            body = parse_body(resp.data)
            resp.release_conn()
            raise ApiError(resp.status, body, action)
        return resp

    # Object helpers over a Resource (resources.py), all returning API-shaped dicts.

    def get(self, resource, namespace, name):
        return self.request("GET", resource.path(namespace, name), resource.action("get", namespace, name))

    def list(self, resource, namespace, label_selector=None, field_selector=None):
        return self.request("GET", resource.path(namespace), resource.action("list", namespace),
                            query={"labelSelector": label_selector or None, "fieldSelector": field_selector or None})

    def table(self, resource, namespace, label_selector=None):
        """The namespace's objects as `kubectl get` prints them (a meta.k8s.io Table: columns and rows of
        short cells, no objects): a tenth of the bytes of a list. A server that cannot print answers with
        the plain list, which the caller tells by its kind."""
        return self.request("GET", resource.path(namespace), resource.action("list", namespace),
                            query={"labelSelector": label_selector or None, "includeObject": "None"},
                            accept=TABLE_ACCEPT)

    def patch(self, resource, namespace, name, body, field_manager, dry_run=False):
        """A strategic merge patch (lists of containers merge by name)."""
        return self.request("PATCH", resource.path(namespace, name), resource.action("patch", namespace, name),
                            query={"dryRun": "All" if dry_run else None, "fieldManager": field_manager},
                            body=body, content_type="application/strategic-merge-patch+json")
