# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options (as in kubernetes.core) -> a small JSON client for the Kubernetes API.

The kubernetes Python client resolves the connection (kubeconfig files or dicts, contexts, exec
credential plugins, in-cluster service accounts) into a Configuration. Requests go through urllib3
with that configuration, speaking plain JSON as the API server does: objects stay camelCase dicts,
and watch streams are read line by line as they arrive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import re
import threading
import traceback
from urllib.parse import urlencode, urlparse
from urllib.request import getproxies

from ansible.module_utils.basic import env_fallback

from ansible_collections.kubedev.devloop.plugins.module_utils.k8s_errors import (
    Action,
    ApiError,
    ApiUnreachable,
    KubeError,
    describe_unreachable,
    parse_body,
)

try:
    import urllib3
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    username=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_PASSWORD"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    no_proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_NO_PROXY"])),
)

# Ordinary requests: short connect timeout, generous read timeout (a dry-run patch runs admission).
REQUEST_TIMEOUT = (10, 60)
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# RFC 7234 warning: 299 - "text"; the API server sends these for PodSecurity 'warn' and deprecations.
_WARNING_TEXT = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


def _kubeconfig_path(value):
    return os.path.expanduser(value) if isinstance(value, str) else value


def build_configuration(params):
    """A kubernetes.client.Configuration from the module's connection options.

    Like kubernetes.core: host (with api_key or a client certificate) alone needs no kubeconfig;
    otherwise the kubeconfig (option, K8S_AUTH_KUBECONFIG, KUBECONFIG or ~/.kube/config) is loaded,
    or the in-cluster service account when there is none; explicit options then override it.
    """
    cfg = Configuration()
    kubeconfig = _kubeconfig_path(params.get("kubeconfig"))
    context = params.get("context")
    try:
        if isinstance(kubeconfig, dict):
            kube_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=cfg,
                                                   persist_config=False)
        elif kubeconfig or context or not params.get("host"):
            path = kubeconfig or kube_config.KUBE_CONFIG_DEFAULT_LOCATION
            if kubeconfig and not _any_exists(kubeconfig):
                raise KubeError("kubeconfig %s does not exist" % kubeconfig)
            if not kubeconfig and not _any_exists(path) and os.path.exists(IN_CLUSTER_TOKEN):
                kube_config.load_incluster_config(client_configuration=cfg)
            elif not kubeconfig and not _any_exists(path):
                raise KubeError("no connection configured: no kubeconfig at %s and not running in a pod; set "
                                "kubeconfig, host or K8S_AUTH_KUBECONFIG" % path)
            else:
                kube_config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                             persist_config=False)
    except KubeError:
        raise
    except Exception as exc:  # the loader raises ConfigException, ValueError, yaml errors...
        raise KubeError("cannot load the Kubernetes connection configuration: %s" % exc)

    if params.get("host"):
        cfg.host = params["host"].rstrip("/")
    if params.get("api_key"):
        cfg.api_key = {"authorization": "Bearer " + params["api_key"]}
        cfg.refresh_api_key_hook = None
    if params.get("username") and params.get("password"):
        cfg.username, cfg.password = params["username"], params["password"]
    if params.get("validate_certs") is not None:
        cfg.verify_ssl = params["validate_certs"]
    if params.get("ca_cert"):
        cfg.ssl_ca_cert = params["ca_cert"]
    if params.get("client_cert"):
        cfg.cert_file = params["client_cert"]
    if params.get("client_key"):
        cfg.key_file = params["client_key"]
    if params.get("proxy"):
        cfg.proxy = params["proxy"]
    if params.get("no_proxy"):
        cfg.no_proxy = params["no_proxy"]
    return cfg


def _any_exists(path_list):
    return any(os.path.exists(os.path.expanduser(p)) for p in path_list.split(os.pathsep) if p)


def default_namespace(params):
    """The namespace of the kubeconfig context in use (like kubectl), else 'default'."""
    kubeconfig = _kubeconfig_path(params.get("kubeconfig"))
    if params.get("host") and not kubeconfig and not params.get("context"):
        return "default"
    try:
        if isinstance(kubeconfig, dict):
            contexts = kubeconfig.get("contexts") or []
            wanted = params.get("context") or kubeconfig.get("current-context")
            for ctx in contexts:
                if ctx.get("name") == wanted:
                    return (ctx.get("context") or {}).get("namespace") or "default"
            return "default"
        contexts, active = kube_config.list_kube_config_contexts(kubeconfig or None)
    except Exception:  # no kubeconfig (in-cluster, host only): kubectl falls back to default too
        return "default"
    wanted = params.get("context") or (active or {}).get("name")
    for ctx in contexts:
        if ctx.get("name") == wanted:
            return (ctx.get("context") or {}).get("namespace") or "default"
    return "default"


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


class KubeClient(object):
    """JSON requests and watch streams against one API server."""

    def __init__(self, configuration, pool_size=32):
        self.configuration = configuration
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
            self.pool = urllib3.ProxyManager(proxy, proxy_headers=getattr(configuration, "proxy_headers", None), **pool_args)
        else:
            self.pool = urllib3.PoolManager(**pool_args)

    def _headers(self, content_type=None):
        headers = {"Accept": "application/json", "User-Agent": "kubedev.devloop"}
        if content_type:
            headers["Content-Type"] = content_type
        auth = self.configuration.auth_settings().get("BearerToken")
        if auth and auth.get("value"):
            headers["Authorization"] = auth["value"]
        elif getattr(self.configuration, "username", None) and getattr(self.configuration, "password", None):
            headers.update(urllib3.util.make_headers(
                basic_auth="%s:%s" % (self.configuration.username, self.configuration.password)))
        return headers

    def _url(self, path, query):
        query = dict((k, v) for k, v in (query or {}).items() if v is not None)
        return self.host + path + ("?" + urlencode(query) if query else "")

    def request(self, method, path, action, query=None, body=None, content_type=None, timeout=REQUEST_TIMEOUT):
        """One request; returns the decoded JSON body or raises ApiError / ApiUnreachable."""
        action.host = self.host
        data = json.dumps(body).encode("utf-8") if body is not None else None
        try:
            resp = self.pool.request(
                method, self._url(path, query), body=data,
                headers=self._headers(content_type or ("application/json" if data else None)),
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

    # Workload helpers, all returning API-shaped dicts.

    def get(self, api_path, resource, namespace, name, group="apps"):
        return self.request("GET", "%s/namespaces/%s/%s/%s" % (api_path, namespace, resource, name),
                            Action("get", resource, group, namespace, name))

    def list(self, api_path, resource, namespace, group="apps", label_selector=None, field_selector=None):
        return self.request("GET", "%s/namespaces/%s/%s" % (api_path, namespace, resource),
                            Action("list", resource, group, namespace),
                            query={"labelSelector": label_selector or None, "fieldSelector": field_selector or None})

    def patch(self, api_path, resource, namespace, name, body, group="apps", dry_run=False):
        return self.request("PATCH", "%s/namespaces/%s/%s/%s" % (api_path, namespace, resource, name),
                            Action("patch", resource, group, namespace, name),
                            query={"dryRun": "All" if dry_run else None, "fieldManager": "kubedev-set-image"},
                            body=body, content_type="application/strategic-merge-patch+json")


def client_from_params(params, pool_size=32):
    return KubeClient(build_configuration(params), pool_size=pool_size)
