# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a registry holds, asked over its HTTP API as the engine that pushes there would reach it.

A registry is insecure only when the engine says so (its insecure-registries and their CIDRs; 127.0.0.0/8 is one by
default): then https is tried without checking the certificate and plain http after it, as Docker does. Any other
registry is asked over https with its certificate checked, so an answer from an impostor never decides that a push
is not needed. A registry that wants a login gets the user's credentials: basic auth, or the bearer token its
WWW-Authenticate names (Docker Hub and most hosted registries).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import ipaddress
import json
import re
import socket
from urllib.parse import urlencode

from ansible_collections.kubedev.devloop.plugins.module_utils._docker.engine import quiet

TIMEOUT = 10
# Docker Hub's images live on docker.io, its registry API elsewhere.
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
# Every manifest type docker push writes: the registry answers with the digest of the one it stores.
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def api_host(registry):
    """Where the registry API of an image_registry value (host[:port][/path]) answers."""
    host = registry.split("/", 1)[0]
    return "registry-1.docker.io" if host in DOCKER_HUB_HOSTS else host


def is_insecure(host, engine_info):
    """Whether the engine treats host as an insecure registry: named in its IndexConfigs as not Secure, or one of
    the host's addresses in its InsecureRegistryCIDRs (as the engine decides it)."""
    config = (engine_info or {}).get("RegistryConfig") or {}
    index = (config.get("IndexConfigs") or {}).get(host)
    if index is not None:
        return not index.get("Secure", True)
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(name, None)]
        except (socket.gaierror, ValueError, UnicodeError):
            return False
    for cidr in config.get("InsecureRegistryCIDRs") or []:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if any(address in network for address in addresses):
            return True
    return False


class Registry(object):
    """One registry host, reached as the engine reaches it."""

    def __init__(self, host, insecure, username="", password=""):
        self.host = host
        self.insecure = insecure
        self.username = username
        self.password = password
        self.base_url = None        # the scheme that answered, once probe() found one
        self._challenge = ""        # its WWW-Authenticate when it wanted a login
        self._authorization_header = None

    def _tls(self):
        import ssl

        if not self.insecure:
            return ssl.create_default_context()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def _request(self, url, method="GET", headers=None):
        """(status, headers, body) of one request, or (-1, reason, b"") when nothing answered."""
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        try:
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=TIMEOUT,
                                                   context=self._tls())
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
            target = parts.path + ("?" + parts.query if parts.query else "")
            conn.request(method, target, headers=dict(headers or {}))
            response = conn.getresponse()
            body = response.read() if method != "HEAD" else b""
            conn.close()
            return response.status, response.headers, body
        except (socket.timeout, TimeoutError):
            return -1, "timed out", b""
        except (OSError, ValueError, http.client.HTTPException) as error:   # refused, TLS, a malformed answer
            return -1, quiet(error), b""

    def probe(self):
        """GET /v2/, the registry API's version check: {"https": {"status", "reason"}, "http": ... or None}. 200, or
        401 when it wants a login. http is tried only for an insecure registry that gave no HTTP answer on https."""
        answers = {"https": None, "http": None}
        for scheme in ("https", "http") if self.insecure else ("https",):
            status, said, _body = self._request("%s://%s/v2/" % (scheme, self.host))
            answers[scheme] = {"status": status, "reason": said if status == -1 else ""}
            if status != -1:
                self.base_url = "%s://%s" % (scheme, self.host)
                self._challenge = (said.get("WWW-Authenticate") or "") if status == 401 else ""
                break
        return answers

    def _authorization(self, scope):
        """The Authorization header for scope, answering the challenge probe() got; worked out once (every question
        of a run is about one repository). None without credentials or without a token."""
        if not self.username:
            return None
        if self._authorization_header is None:
            basic = "Basic " + base64.b64encode(("%s:%s" % (self.username, self.password)).encode("utf-8")).decode("ascii")
            self._authorization_header = basic
            if self._challenge.lower().startswith("bearer"):
                params = dict(_CHALLENGE_PARAM.findall(self._challenge))
                query = {"service": params.get("service", ""), "scope": scope}
                status, _headers, body = self._request(params.get("realm", "") + "?" + urlencode(query), "GET",
                                                       {"Authorization": basic})
                try:
                    answer = json.loads(body.decode("utf-8")) if status == 200 else {}
                except ValueError:   # no token: the manifest questions go unanswered, the push decides
                    answer = {}
                token = answer.get("token") or answer.get("access_token")
                self._authorization_header = "Bearer %s" % token if token else ""
        return self._authorization_header or None

    def manifest_digest(self, path, tag):
        """The digest of the manifest path:tag names there, or None (no such tag, or no answer)."""
        if self.base_url is None:
            return None
        headers = {"Accept": MANIFEST_TYPES}
        authorization = self._authorization("repository:%s:pull" % path)
        if authorization:
            headers["Authorization"] = authorization
        status, answer, _body = self._request("%s/v2/%s/manifests/%s" % (self.base_url, path, tag), "HEAD", headers)
        return answer.get("Docker-Content-Digest") if status == 200 and hasattr(answer, "get") else None
