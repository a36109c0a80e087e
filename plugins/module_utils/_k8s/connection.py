# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options (kubernetes.core's names) resolved, once per module run, into a Connection.

The kubeconfig is located once and read once. kubeconfig.py reads the common kubeconfigs (server,
certificates, token, basic auth) without importing the kubernetes Python client, which costs each
module run a quarter second and more; the kubernetes client's own loader resolves the rest (exec and
auth-provider credential plugins, in-cluster service accounts) into a Configuration, and is imported
only then. Either object serves KubeClient (client.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os

from ansible.module_utils.basic import env_fallback

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import kubeconfig as kubeconfig_loader

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

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
IN_CLUSTER = object()   # locate_kubeconfig: no kubeconfig, but a pod's service account


class Connection(object):
    """How to reach the API server (settings) and the namespace of the context in use (namespace)."""

    def __init__(self, settings, namespace="default"):
        self.settings = settings
        self.namespace = namespace


def resolve_connection(params):
    """The Connection of the module's options. Raises KubeError saying what is wrong with them."""
    source = locate_kubeconfig(params)
    context = params.get("context")
    if source is IN_CLUSTER:
        return Connection(kubernetes_configuration(params, source), in_cluster_namespace())
    if source is None:
        settings, namespace = kubeconfig_loader.ConnectionSettings(), "default"
    else:
        try:
            config = kubeconfig_loader.read(source)
        except kubeconfig_loader.NeedsKubernetesClient as exc:
            # The kubernetes client's loader would ignore an impersonation we could not read.
            raise KubeError("cannot check the kubeconfig for impersonation (%s); refusing to connect without it" % exc)
        try:
            settings = config.settings(context)
        except kubeconfig_loader.NeedsKubernetesClient:
            return Connection(kubernetes_configuration(params, source, config.impersonation(context), plugin=True),
                              config.namespace(context))
        namespace = config.namespace(context)
    _apply_options(settings, params)
    settings.use_environment_proxy()
    return Connection(settings, namespace)


def locate_kubeconfig(params):
    """What the connection is read from, like kubernetes.core: the kubeconfig option as a dict or path(s);
    None when host alone is given (with api_key or a client certificate); else the default kubeconfig
    (KUBECONFIG or ~/.kube/config), or IN_CLUSTER when there is none and we run in a pod."""
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, str):
        kubeconfig = os.path.expanduser(kubeconfig)
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


def kubernetes_configuration(params, source, impersonation=None, plugin=False):
    """A kubernetes.client.Configuration of source (what locate_kubeconfig found) by the kubernetes
    client's own loader, imported only here; that loader ignores as/as-groups/as-uid/as-user-extra, so
    the impersonation read by kubeconfig.py is passed in. Explicit options win.

    plugin: the user's credentials come from a credential plugin. That loader logs a plugin's failure and
    goes on without credentials, and the API server's 401 would hide why; kubectl stops there, and so does this."""
    try:
        from kubernetes import config as kube_config
        from kubernetes.client import Configuration
    except ImportError as exc:
        raise KubeError("this connection needs the kubernetes Python client, which cannot be imported: %s" % exc)
    cfg = Configuration()
    context = params.get("context")
    said = _LoaderLog()
    logging.getLogger().addHandler(said)
    try:
        if source is IN_CLUSTER:
            kube_config.load_incluster_config(client_configuration=cfg)
        elif isinstance(source, dict):
            kube_config.load_kube_config_from_dict(source, context=context, client_configuration=cfg,
                                                   persist_config=False)
        elif source is not None:
            kube_config.load_kube_config(config_file=source, context=context, client_configuration=cfg,
                                         persist_config=False)
    except Exception as exc:  # the loader raises ConfigException, ValueError, yaml errors...
        raise KubeError("cannot load the Kubernetes connection configuration: %s" % exc)
    finally:
        logging.getLogger().removeHandler(said)
    cfg.impersonate = impersonation
    _apply_options(cfg, params)
    if plugin and not (cfg.api_key or cfg.cert_file or params.get("api_key")):
        raise KubeError("the kubeconfig user's credential plugin gave no credentials%s; kubectl sends no request "
                        "without them either" % (": " + "; ".join(said.messages) if said.messages else ""))
    return cfg


class _LoaderLog(logging.Handler):
    """What the kubernetes client's loader logs as an error (a credential plugin that failed, and why)."""

    def __init__(self):
        super(_LoaderLog, self).__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _apply_options(cfg, params):
    """The explicit connection options override what the kubeconfig said."""
    if params.get("host"):
        cfg.host = params["host"].rstrip("/")
    credentials.remember(params.get("api_key"), params.get("password"), *kubeconfig_loader.secret_values(params.get("proxy")))
    if params.get("api_key"):
        if kubeconfig_loader.header_value_problem(params["api_key"]):
            raise KubeError("api_key contains a control character (a line break at its end?); it cannot be sent "
                            "as a header")
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


def in_cluster_namespace():
    """A pod's own namespace, as client-go's in-cluster config has it: POD_NAMESPACE, else the service
    account's namespace file, else 'default'."""
    namespace = os.environ.get("POD_NAMESPACE")
    if namespace:
        return namespace
    try:
        with open(IN_CLUSTER_NAMESPACE) as handle:
            return handle.read().strip() or "default"
    except (IOError, OSError):
        return "default"
