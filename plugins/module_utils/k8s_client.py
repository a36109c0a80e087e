# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection options (as in kubernetes.core) -> a small JSON client for the Kubernetes API.

kubeconfig.py reads the common kubeconfigs (server, certificates, token, basic auth) without importing
the kubernetes Python client, which costs each module run a quarter second and more; the kubernetes
client resolves the rest (exec and auth-provider credential plugins, in-cluster service accounts) into a
Configuration, and is imported only then. Requests go through urllib3 with either object, speaking plain
JSON as the API server does: objects stay camelCase dicts, and watch streams are read line by line as
they arrive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import ipaddress
import json
import os
import re
import threading
import traceback
from urllib.parse import quote, unquote, urlencode, urlparse
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
from ansible_collections.kubedev.devloop.plugins.module_utils import kubeconfig as kubeconfig_loader

try:
    import urllib3
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    # Found, not imported: only connections kubeconfig.py leaves to it import the kubernetes client.
    HAS_KUBERNETES = importlib.util.find_spec("kubernetes") is not None
    KUBERNETES_IMPORT_ERROR = None if HAS_KUBERNETES else "No module named 'kubernetes'"

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw", no_log=True, fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    username=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_PASSWORD"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
    no_proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_NO_PROXY"])),
)

# Ordinary requests: short connect timeout, generous read timeout (a dry-run patch runs admission).
REQUEST_TIMEOUT = (10, 60)
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
# RFC 7234 warning: 299 - "text"; the API server sends these for PodSecurity 'warn' and deprecations.
_WARNING_TEXT = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


IN_CLUSTER = object()   # _kubeconfig_source: no kubeconfig, but a pod's service account
# RFC 7230 token characters but '%', which escapes the others in Impersonate-Extra-<key>.
_HEADER_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'*+-.^_`|~")


def _kubeconfig_path(value):
    return os.path.expanduser(value) if isinstance(value, str) else value


def _kubeconfig_source(params):
    """What the connection is read from, like kubernetes.core: the kubeconfig option as a dict or path(s);
    None when host alone is given (with api_key or a client certificate); else the default kubeconfig
    (KUBECONFIG or ~/.kube/config), or IN_CLUSTER when there is none and we run in a pod."""
    kubeconfig = _kubeconfig_path(params.get("kubeconfig"))
    if isinstance(kubeconfig, dict):
        return kubeconfig
    if kubeconfig and not isinstance(kubeconfig, str):
        raise KubeError("kubeconfig must be a path or a kubeconfig dict, not %s" % type(kubeconfig).__name__)
    if kubeconfig:
        if not _any_exists(kubeconfig):
            raise KubeError("kubeconfig %s does not exist" % kubeconfig)
        return kubeconfig
    if params.get("host") and not params.get("context"):
        return None
    path = kubeconfig_loader.default_location()
    if _any_exists(path):
        return path
    if os.path.exists(IN_CLUSTER_TOKEN):
        return IN_CLUSTER
    raise KubeError("no connection configured: no kubeconfig at %s and not running in a pod; set "
                    "kubeconfig, host or K8S_AUTH_KUBECONFIG" % path)


def connection_settings(params):
    """The connection of the module's options: kubeconfig.py's ConnectionSettings when it can read it
    (no `import kubernetes`), else the kubernetes client's Configuration (build_configuration)."""
    source = _kubeconfig_source(params)
    if source is IN_CLUSTER:
        return build_configuration(params)
    try:
        if source is None:
            settings = kubeconfig_loader.ConnectionSettings()
        else:
            settings = kubeconfig_loader.read(source).settings(params.get("context"))
    except kubeconfig_loader.NeedsKubernetesClient:
        return build_configuration(params)
    _apply_options(settings, params)
    settings.use_environment_proxy()
    return settings


def build_configuration(params):
    """A kubernetes.client.Configuration from the module's connection options, by the kubernetes client's
    own loader (imported here, so only connections that need it pay for it); explicit options win."""
    try:
        from kubernetes import config as kube_config
        from kubernetes.client import Configuration
    except ImportError as exc:
        raise KubeError("this connection needs the kubernetes Python client, which cannot be imported: %s" % exc)
    source = _kubeconfig_source(params)
    cfg = Configuration()
    try:
        if source is IN_CLUSTER:
            kube_config.load_incluster_config(client_configuration=cfg)
        elif isinstance(source, dict):
            kube_config.load_kube_config_from_dict(source, context=params.get("context"), client_configuration=cfg,
                                                   persist_config=False)
        elif source is not None:
            kube_config.load_kube_config(config_file=source, context=params.get("context"), client_configuration=cfg,
                                         persist_config=False)
    except Exception as exc:  # the loader raises ConfigException, ValueError, yaml errors...
        raise KubeError("cannot load the Kubernetes connection configuration: %s" % exc)
    # That loader ignores as/as-groups/as-uid/as-user-extra: the impersonation comes from ours.
    cfg.impersonate = _kubeconfig_impersonation(source, params.get("context"))
    _apply_options(cfg, params)
    return cfg


def _kubeconfig_impersonation(source, context):
    if source is IN_CLUSTER or source is None:
        return None
    try:
        return kubeconfig_loader.read(source).impersonation(context)
    except kubeconfig_loader.NeedsKubernetesClient as exc:
        raise KubeError("cannot check the kubeconfig for impersonation (%s); refusing to connect without it" % exc)


def _apply_options(cfg, params):
    """The explicit connection options override what the kubeconfig said."""
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
        problem = kubeconfig_loader.proxy_problem(params["proxy"])
        if problem:
            raise KubeError("proxy option: " + problem)
        cfg.proxy = params["proxy"]
    if params.get("no_proxy"):
        cfg.no_proxy = params["no_proxy"]


def _any_exists(path_list):
    return any(os.path.exists(os.path.expanduser(p)) for p in path_list.split(os.pathsep) if p)


def default_namespace(params):
    """The namespace of the kubeconfig context in use (like kubectl), else 'default'."""
    try:
        source = _kubeconfig_source(params)
        if source is IN_CLUSTER:
            return _in_cluster_namespace()
        if source is None:
            return "default"
        return kubeconfig_loader.read(source).namespace(params.get("context"))
    except Exception:  # no usable kubeconfig: the connection reports why; kubectl falls back to default too
        return "default"


def _in_cluster_namespace():
    """A pod's own namespace, as client-go's in-cluster config has it: POD_NAMESPACE, else the service
    account's namespace file."""
    namespace = os.environ.get("POD_NAMESPACE")
    if namespace:
        return namespace
    try:
        with open(IN_CLUSTER_NAMESPACE) as handle:
            return handle.read().strip() or "default"
    except (IOError, OSError):
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


def _proxy_credentials(proxy, proxy_headers):
    """A proxy URL's user:password become Proxy-Authorization, as kubectl sends them (urllib3 does not)."""
    parsed = urllib3.util.parse_url(proxy)
    if not parsed.auth:
        return proxy, proxy_headers
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
    return keys.get("BearerToken", keys.get("authorization"))


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
            problem = kubeconfig_loader.proxy_problem(proxy)
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
            headers.update(urllib3.util.make_headers(
                basic_auth="%s:%s" % (self.configuration.username, self.configuration.password)))
        for name, value in impersonation_headers(getattr(self.configuration, "impersonate", None)):
            headers.add(name, value)
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
        return self.request("GET", object_path(api_path, namespace, resource, name),
                            Action("get", resource, group, namespace, name))

    def list(self, api_path, resource, namespace, group="apps", label_selector=None, field_selector=None):
        return self.request("GET", object_path(api_path, namespace, resource),
                            Action("list", resource, group, namespace),
                            query={"labelSelector": label_selector or None, "fieldSelector": field_selector or None})

    def patch(self, api_path, resource, namespace, name, body, group="apps", dry_run=False):
        return self.request("PATCH", object_path(api_path, namespace, resource, name),
                            Action("patch", resource, group, namespace, name),
                            query={"dryRun": "All" if dry_run else None, "fieldManager": "kubedev-set-image"},
                            body=body, content_type="application/strategic-merge-patch+json")


def object_path(api_path, namespace, resource, name=None):
    """The URL path of a namespaced collection or object. Names are checked before (k8s_names); quoting
    every segment as well means no value can ever add a path segment or a query."""
    path = "%s/namespaces/%s/%s" % (api_path, quote(namespace, safe=""), resource)
    return path + "/" + quote(name, safe="") if name is not None else path


def client_from_params(params, pool_size=32):
    return KubeClient(connection_settings(params), pool_size=pool_size)
