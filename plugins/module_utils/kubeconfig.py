# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubeconfig -> connection settings, without importing the kubernetes Python client.

`import kubernetes` loads every API and model (a quarter to half a second of each module run), while
most kubeconfigs only name a server, certificates and a token or password. This reads those the way
kubectl (client-go) does. What it does not cover - exec and auth-provider credential plugins,
impersonation, fields it does not know - raises NeedsKubernetesClient, and the caller uses the
kubernetes client's own loader instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import binascii
import os
import tempfile
from urllib.parse import urlparse
from urllib.request import getproxies

from ansible_collections.kubedev.devloop.plugins.module_utils.k8s_errors import KubeError

try:
    import yaml
except ImportError:
    yaml = None

DEFAULT_LOCATION = "~/.kube/config"
CLUSTER_FIELDS = frozenset(["server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                            "tls-server-name", "proxy-url", "disable-compression", "extensions"])
USER_FIELDS = frozenset(["client-certificate", "client-certificate-data", "client-key", "client-key-data",
                         "token", "tokenFile", "username", "password", "extensions"])

_temp_files = {}


class NeedsKubernetesClient(Exception):
    """The connection needs what only the kubernetes client's loader does; the message says what."""


class ConnectionSettings(object):
    """Where and how to reach one API server, with the attribute names of kubernetes.client.Configuration
    that KubeClient reads, so either object serves it."""

    def __init__(self, host=""):
        self.host = host
        self.verify_ssl = True
        self.ssl_ca_cert = None
        self.cert_file = None
        self.key_file = None
        self.tls_server_name = None
        self.api_key = {}                   # {"authorization": "Bearer <token>"}, as Configuration keeps it
        self.refresh_api_key_hook = None    # static credentials: nothing to refresh
        self.username = None
        self.password = None
        self.proxy = None
        self.no_proxy = getproxies().get("no")
        self.proxy_headers = None

    def use_environment_proxy(self):
        """Without a proxy of its own, take the environment's as Configuration does: the one for the
        host's scheme (HTTPS_PROXY, HTTP_PROXY), else ALL_PROXY."""
        if self.proxy is None:
            proxies = getproxies()
            self.proxy = proxies.get(urlparse(self.host).scheme) or proxies.get("all")


def default_location():
    """KUBECONFIG (a list of paths) when set, else ~/.kube/config, as kubectl."""
    return os.environ.get("KUBECONFIG") or DEFAULT_LOCATION


def read(source):
    """The merged Kubeconfig of a dict, a path, or a KUBECONFIG-style list of paths (missing files are
    skipped, as kubectl skips them)."""
    if isinstance(source, dict):
        config = Kubeconfig("the kubeconfig option")
        config.add(source, "")
        return config
    if yaml is None:
        raise NeedsKubernetesClient("PyYAML is not importable")
    config = Kubeconfig("kubeconfig " + source)
    for path in source.split(os.pathsep):
        path = os.path.expanduser(path) if path else path
        if path and os.path.exists(path):
            config.add(_load_yaml(path), os.path.dirname(os.path.abspath(path)))
    return config


class Kubeconfig(object):
    """Clusters, users and contexts by name, each with the directory its relative paths start from."""

    def __init__(self, label):
        self.label = label                  # names the source in messages
        self.clusters = {}
        self.users = {}
        self.contexts = {}
        self.current_context = None

    def add(self, document, base_dir):
        """Merge one file as client-go does: the first file to define a name, or current-context, wins."""
        if document is None:                # an empty file adds nothing
            return
        if not isinstance(document, dict):
            raise KubeError("%s is not a kubeconfig (expected a mapping at the top)" % self.label)
        for key, table in (("clusters", self.clusters), ("users", self.users), ("contexts", self.contexts)):
            entries = document.get(key) or []
            if not isinstance(entries, list):
                raise KubeError("%s: %s must be a list" % (self.label, key))
            for entry in entries:
                if not isinstance(entry, dict) or not entry.get("name"):
                    raise KubeError("%s: every entry of %s needs a name" % (self.label, key))
                table.setdefault(entry["name"], (entry.get(key[:-1]) or {}, base_dir))
        if not self.current_context and document.get("current-context"):
            self.current_context = document["current-context"]

    def context(self, name=None):
        """(name, fields) of the context in use: the one asked for, else current-context."""
        name = name or self.current_context
        if not name:
            raise KubeError("%s sets no current-context; choose one with the context option (contexts: %s)"
                            % (self.label, _names(self.contexts)))
        if name not in self.contexts:
            raise KubeError('%s has no context "%s" (contexts: %s)' % (self.label, name, _names(self.contexts)))
        return name, self.contexts[name][0]

    def namespace(self, context=None):
        return self.context(context)[1].get("namespace") or "default"

    def settings(self, context=None):
        """ConnectionSettings of the context, or NeedsKubernetesClient for credentials read elsewhere."""
        name, fields = self.context(context)
        cluster_name = fields.get("cluster")
        cluster, cluster_dir = self._named("cluster", cluster_name, name, self.clusters)
        user_name = fields.get("user")
        user, user_dir = self._named("user", user_name, name, self.users) if user_name else ({}, "")
        unsupported = sorted(set(user) - USER_FIELDS) + sorted(set(cluster) - CLUSTER_FIELDS)
        if unsupported:
            raise NeedsKubernetesClient("kubeconfig fields " + ", ".join(unsupported))
        if not cluster.get("server"):
            raise KubeError('%s: cluster "%s" has no server' % (self.label, cluster_name))

        settings = ConnectionSettings(str(cluster["server"]).rstrip("/"))
        if settings.host.startswith("https"):   # certificates mean nothing to plain http
            settings.ssl_ca_cert = self._file("certificate-authority", cluster, cluster_dir, "cluster", cluster_name)
            settings.cert_file = self._file("client-certificate", user, user_dir, "user", user_name)
            settings.key_file = self._file("client-key", user, user_dir, "user", user_name)
        if "insecure-skip-tls-verify" in cluster:
            settings.verify_ssl = not cluster["insecure-skip-tls-verify"]
        if "tls-server-name" in cluster:
            settings.tls_server_name = cluster["tls-server-name"]
        if "proxy-url" in cluster:
            settings.proxy = cluster["proxy-url"]
        token = user.get("token") or self._token_file(user, user_dir, user_name)
        if token:
            settings.api_key = {"authorization": "Bearer %s" % token}
        elif user.get("username") and user.get("password"):
            settings.username, settings.password = str(user["username"]), str(user["password"])
        return settings

    def _named(self, kind, name, context, table):
        if name not in table:
            raise KubeError('%s: context "%s" names %s "%s", which it does not define (%ss: %s)'
                            % (self.label, context, kind, name, kind, _names(table)))
        fields, base_dir = table[name]
        if not isinstance(fields, dict):
            raise KubeError('%s: %s "%s" is not a mapping' % (self.label, kind, name))
        return fields, base_dir

    def _file(self, field, fields, base_dir, kind, name):
        """The path of a certificate or key: <field>-data (base64) goes to a private temporary file, as
        urllib3 takes paths; a relative <field> starts at the directory of the file that set it."""
        data = fields.get(field + "-data")
        if data:
            try:
                return _private_file(base64.b64decode(data))
            except (binascii.Error, TypeError, ValueError):
                raise KubeError('%s: %s-data of %s "%s" is not valid base64' % (self.label, field, kind, name))
        if not fields.get(field):
            return None
        path = os.path.normpath(os.path.join(base_dir, fields[field]))
        _check_readable(path, '%s: cannot read %s %s of %s "%s"' % (self.label, field, path, kind, name))
        return path

    def _token_file(self, user, base_dir, name):
        if not user.get("tokenFile"):
            return None
        path = os.path.normpath(os.path.join(base_dir, user["tokenFile"]))
        try:
            with open(path) as handle:
                return handle.read().strip()    # client-go trims it too; a newline is no header value
        except (IOError, OSError) as exc:
            raise KubeError('%s: cannot read tokenFile %s of user "%s": %s' % (self.label, path, name, exc.strerror or exc))


def _names(table):
    return ", ".join(sorted(table)) or "none"


def _load_yaml(path):
    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except (IOError, OSError) as exc:
        raise KubeError("cannot read kubeconfig %s: %s" % (path, exc.strerror or exc))
    except yaml.YAMLError as exc:
        # Only the position and the problem: the parser's snippet of the line could hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise KubeError("kubeconfig %s is not valid YAML%s: %s" % (path, where, getattr(exc, "problem", None) or "parse error"))


def _check_readable(path, message):
    try:
        with open(path, "rb"):
            pass
    except (IOError, OSError) as exc:
        raise KubeError("%s: %s" % (message, exc.strerror or exc))


def _private_file(content):
    """A file only this user can read (mkstemp makes it 0600) holding content; removed at exit."""
    if content not in _temp_files:
        if not _temp_files:
            atexit.register(_remove_private_files)
        handle, path = tempfile.mkstemp(prefix="kubedev-kubeconfig-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        _temp_files[content] = path
    return _temp_files[content]


def _remove_private_files():
    for path in _temp_files.values():
        try:
            os.remove(path)
        except OSError:
            pass
    _temp_files.clear()
