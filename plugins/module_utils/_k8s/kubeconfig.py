# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubeconfig -> connection settings, without importing the kubernetes Python client.

`import kubernetes` loads every API and model (a quarter to half a second of each module run), while
most kubeconfigs only name a server, certificates and a token or password. This reads those the way
kubectl (client-go) does, impersonation (as, as-uid, as-groups, as-user-extra) included. Credential
plugins (exec, auth-provider) raise NeedsKubernetesClient and the caller uses the kubernetes client's
own loader for the credentials; impersonation() still comes from here, as that loader ignores it.

Every field of the context, cluster and user in use is checked against what is implemented here or by
the kubernetes client: an unknown field is refused, never ignored - an ignored `as:` would act with the
base identity's privileges where kubectl acts as the impersonated one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import binascii
import os
import tempfile
from urllib.parse import unquote, urlparse
from urllib.request import getproxies

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError

try:
    import yaml
except ImportError:
    yaml = None

DEFAULT_LOCATION = "~/.kube/config"
TOP_LEVEL_FIELDS = frozenset(["apiVersion", "kind", "preferences", "clusters", "users", "contexts", "current-context",
                              "extensions"])
CONTEXT_FIELDS = frozenset(["cluster", "user", "namespace", "extensions"])
# disable-compression and extensions change nothing for us: responses are not requested compressed,
# extensions are metadata for other tools.
CLUSTER_FIELDS = frozenset(["server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                            "tls-server-name", "proxy-url", "disable-compression", "extensions"])
IMPERSONATION_FIELDS = ("as", "as-uid", "as-groups", "as-user-extra")
USER_FIELDS = frozenset(["client-certificate", "client-certificate-data", "client-key", "client-key-data",
                         "token", "tokenFile", "username", "password", "extensions"] + list(IMPERSONATION_FIELDS))
# Credential plugins the kubernetes client's loader runs, and the parts of them it implements.
PLUGIN_FIELDS = frozenset(["exec", "auth-provider"])
EXEC_FIELDS = frozenset(["apiVersion", "command", "args", "env", "installHint", "provideClusterInfo", "interactiveMode"])
AUTH_PROVIDERS = ("gcp", "oidc")
BOOLEAN_FIELDS = frozenset(["insecure-skip-tls-verify", "disable-compression"])
STRUCTURED_FIELDS = frozenset(["extensions", "as-groups", "as-user-extra"]) | PLUGIN_FIELDS
PROXY_SCHEMES = ("http", "https")

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
        self.impersonate = None             # dict(user, uid, groups, extra) from the kubeconfig user

    def use_environment_proxy(self):
        """Without a proxy of its own, take the environment's as Configuration does: the one for the
        host's scheme (HTTPS_PROXY, HTTP_PROXY), else ALL_PROXY."""
        if self.proxy is None:
            proxies = getproxies()
            self.proxy = proxies.get(urlparse(self.host).scheme) or proxies.get("all")
            credentials.remember(*secret_values(self.proxy))


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
        _refuse_unknown(self.label, "the top level", document, TOP_LEVEL_FIELDS)
        credentials.remember(*credential_values(document))
        for key, table in (("clusters", self.clusters), ("users", self.users), ("contexts", self.contexts)):
            entries = document.get(key) or []
            if not isinstance(entries, list):
                raise KubeError("%s: %s must be a list" % (self.label, key))
            names = set()
            for entry in entries:
                if not isinstance(entry, dict) or not entry.get("name"):
                    raise KubeError("%s: every entry of %s needs a name" % (self.label, key))
                if entry["name"] in names:
                    # client-go refuses the file too (and quotes the whole list, credentials included)
                    raise KubeError('%s: %s names "%s" twice; kubectl refuses such a file too'
                                    % (self.label, key, entry["name"]))
                names.add(entry["name"])
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
        """ConnectionSettings of the context, or NeedsKubernetesClient for credentials a plugin provides."""
        entry = self._checked(context)
        cluster, cluster_dir, cluster_name = entry["cluster"], entry["cluster_dir"], entry["cluster_name"]
        user, user_dir, user_name = entry["user"], entry["user_dir"], entry["user_name"]
        plugins = sorted(PLUGIN_FIELDS & set(user))
        if plugins:
            raise NeedsKubernetesClient("kubeconfig fields " + ", ".join(plugins))

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
            settings.no_proxy = None    # kubectl sends everything through proxy-url, whatever NO_PROXY says
        token, field = self._token(user, user_dir, user_name)
        if token:
            if header_value_problem(token):
                # Go's net/http refuses such a header value, so kubectl fails too; urllib3 would repeat it.
                raise KubeError('%s: user "%s": %s contains a control character (a line break at its end, from '
                                '"token: |"?); kubectl refuses it too' % (self.label, user_name, field))
            settings.api_key = {"authorization": "Bearer %s" % token}
        elif user.get("username") and user.get("password"):
            settings.username, settings.password = str(user["username"]), str(user["password"])
        settings.impersonate = entry["impersonate"]
        return settings

    def impersonation(self, context=None):
        """dict(user, uid, groups, extra) the context's user impersonates, or None; checks the whole entry."""
        return self._checked(context)["impersonate"]

    def _checked(self, context):
        """The context's cluster and user after the audit: every field known, of the right type, and the
        combinations kubectl accepts. Raises KubeError naming what is wrong."""
        name, fields = self.context(context)
        if not isinstance(fields, dict):
            raise KubeError('%s: context "%s" is not a mapping' % (self.label, name))
        _refuse_unknown(self.label, 'context "%s"' % name, fields, CONTEXT_FIELDS)
        cluster_name = fields.get("cluster")
        cluster, cluster_dir = self._named("cluster", cluster_name, name, self.clusters)
        user_name = fields.get("user")
        user, user_dir = self._named("user", user_name, name, self.users) if user_name else ({}, "")
        cluster_label, user_label = 'cluster "%s"' % cluster_name, 'user "%s"' % user_name
        _refuse_unknown(self.label, cluster_label, cluster, CLUSTER_FIELDS)
        _refuse_unknown(self.label, user_label, user, USER_FIELDS | PLUGIN_FIELDS)
        _check_types(self.label, cluster_label, cluster)
        _check_types(self.label, user_label, user)
        if not cluster.get("server"):
            raise KubeError('%s: cluster "%s" has no server' % (self.label, cluster_name))
        if cluster.get("insecure-skip-tls-verify") and (cluster.get("certificate-authority")
                                                        or cluster.get("certificate-authority-data")):
            raise KubeError('%s: %s sets insecure-skip-tls-verify and a certificate authority; kubectl refuses '
                            'that too ("specifying a root certificates file with the insecure flag is not allowed"): '
                            'keep one' % (self.label, cluster_label))
        if "proxy-url" in cluster:
            problem = proxy_problem(cluster["proxy-url"])
            if problem:
                raise KubeError("%s: %s proxy-url: %s" % (self.label, cluster_label, problem))
        _check_auth_methods(self.label, user_label, user)
        _check_plugins(self.label, user_label, user)
        return {"cluster": cluster, "cluster_dir": cluster_dir, "cluster_name": cluster_name,
                "user": user, "user_dir": user_dir, "user_name": user_name,
                "impersonate": _impersonation(self.label, user_label, user)}

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

    def _token(self, user, base_dir, name):
        """(bearer token, the field it came from) as client-go sends it: tokenFile's content (trimmed) whenever the
        file can be read, as client-go re-reads it for every request; token when it cannot; tokenFile alone must
        be readable."""
        if not user.get("tokenFile"):
            return user.get("token"), "token"
        path = os.path.normpath(os.path.join(base_dir, user["tokenFile"]))
        try:
            with open(path) as handle:
                token = handle.read().strip()
        except (IOError, OSError) as exc:
            if user.get("token"):
                return user["token"], "token"
            raise KubeError('%s: cannot read tokenFile %s of user "%s": %s' % (self.label, path, name, exc.strerror or exc))
        credentials.remember(token)
        return token, "tokenFile"


def _names(table):
    return ", ".join(sorted(table)) or "none"


def _refuse_unknown(label, where, fields, known):
    unknown = sorted(str(key) for key in set(fields) - known)
    if unknown:
        raise KubeError("%s: %s sets %s, which kubedev.devloop does not support; it refuses the kubeconfig "
                        "rather than ignore them (supported: %s)"
                        % (label, where, ", ".join(unknown), ", ".join(sorted(known))))


def _check_types(label, where, fields):
    """Scalars as client-go decodes them: a quoted "false" is no boolean (it would read as true here)."""
    for key, value in fields.items():
        if key in BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                raise KubeError("%s: %s: %s must be true or false, not %r" % (label, where, key, value))
        elif key not in STRUCTURED_FIELDS and value is not None and not isinstance(value, str):
            raise KubeError("%s: %s: %s must be a string, not %s" % (label, where, key, type(value).__name__))


def _check_auth_methods(label, where, user):
    """One way to authenticate per user. kubectl refuses token plus basic auth, and an exec plugin plus an
    auth-provider; the other pairs it resolves by an order the kubernetes client does not share, and the
    wrong guess acts as another identity."""
    methods = []
    if user.get("token") or user.get("tokenFile"):
        methods.append("token")
    if user.get("username") or user.get("password"):
        methods.append("basic auth (username/password)")
    if user.get("exec"):
        methods.append("exec")
    if user.get("auth-provider"):
        methods.append("auth-provider")
    if len(methods) > 1:
        raise KubeError("%s: %s has more than one authentication method (%s); keep one"
                        % (label, where, ", ".join(methods)))


def _check_plugins(label, where, user):
    """Only what the kubernetes client's loader really does with a credential plugin."""
    exec_config = user.get("exec")
    if exec_config is not None:
        if not isinstance(exec_config, dict):
            raise KubeError("%s: %s: exec must be a mapping" % (label, where))
        _refuse_unknown(label, where + " exec", exec_config, EXEC_FIELDS)
    provider = user.get("auth-provider")
    if provider is not None:
        if not isinstance(provider, dict) or provider.get("name") not in AUTH_PROVIDERS:
            name = provider.get("name") if isinstance(provider, dict) else provider
            raise KubeError("%s: %s: auth-provider %r is not supported (supported: %s); use an exec credential "
                            "plugin instead" % (label, where, name, ", ".join(AUTH_PROVIDERS)))
        _refuse_unknown(label, where + " auth-provider", provider, frozenset(["name", "config"]))


def header_value_problem(value):
    if not isinstance(value, str) or not value:
        return "must be a non-empty string, not %r" % (value,)
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "contains a control character"
    return None


def _impersonation(label, where, user):
    """The impersonation a user entry asks for (kubectl's --as, --as-uid, --as-group, as-user-extra), or None."""
    if not any(key in user for key in IMPERSONATION_FIELDS):
        return None
    if not user.get("as"):
        raise KubeError("%s: %s sets %s without as: impersonating groups, a uid or extra fields needs a user "
                        "to impersonate (kubectl refuses it too)"
                        % (label, where, ", ".join(k for k in IMPERSONATION_FIELDS if k in user)))
    groups = user.get("as-groups") or []
    extra = user.get("as-user-extra") or {}
    if not isinstance(groups, list):
        raise KubeError("%s: %s: as-groups must be a list of group names" % (label, where))
    if not isinstance(extra, dict) or not all(isinstance(values, list) for values in extra.values()):
        raise KubeError("%s: %s: as-user-extra must map each key to a list of values" % (label, where))
    checks = [("as", user["as"])]
    if user.get("as-uid"):
        checks.append(("as-uid", user["as-uid"]))
    checks += [("as-groups", group) for group in groups]
    checks += [("as-user-extra key", key) for key in extra]
    checks += [("as-user-extra value", value) for values in extra.values() for value in values]
    for field, value in checks:
        problem = header_value_problem(value)
        if problem:
            raise KubeError("%s: %s: %s %s" % (label, where, field, problem))
    return {"user": user["as"], "uid": user.get("as-uid") or None, "groups": list(groups),
            "extra": dict((key, list(values)) for key, values in extra.items())}


def secret_values(value):
    """The strings of a kubeconfig dict, or of a URL, that are secret: everything under a user entry (tokens,
    passwords, keys, exec arguments and environment, auth-provider configuration) and the password of any
    URL's user:password (proxy-url, a proxy option)."""
    secrets = set()
    if isinstance(value, str):
        password = _url_password(value)
        return set([password, unquote(password)]) if password else set()
    if not isinstance(value, dict):
        return secrets
    for entry in value.get("users") or []:
        if isinstance(entry, dict):
            secrets |= set(string_leaves(entry.get("user")))
    for entry in value.get("clusters") or []:
        if isinstance(entry, dict) and isinstance(entry.get("cluster"), dict):
            secrets |= secret_values(entry["cluster"].get("proxy-url"))
    return secrets


def _url_password(url):
    """The password of a URL's user:password, also of a URL too broken to parse (it still may be shown)."""
    if "://" not in url:
        return None
    try:
        return urlparse(url).password
    except ValueError:
        authority = url.split("://", 1)[1].split("/", 1)[0]
        userinfo = authority.rsplit("@", 1)[0] if "@" in authority else ""
        return userinfo.split(":", 1)[1] if ":" in userinfo else None


def credential_values(document):
    """The credentials of a kubeconfig document: each user's token, password and private key, what its
    credential plugins are given to keep (exec environment values, auth-provider configuration), and the
    password of any proxy-url. Names, paths, plugin commands and arguments and impersonation fields are left
    out: messages name them, and masking a common word would garble every message."""
    values = []
    for entry in document.get("users") or [] if isinstance(document, dict) else []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        values += [user.get(field) for field in ("token", "password", "client-key-data")]
        exec_config = user.get("exec") if isinstance(user.get("exec"), dict) else {}
        values += [item.get("value") for item in exec_config.get("env") or [] if isinstance(item, dict)]
        provider = user.get("auth-provider") if isinstance(user.get("auth-provider"), dict) else {}
        values += list(string_leaves(provider.get("config")))
    for entry in document.get("clusters") or [] if isinstance(document, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("cluster"), dict):
            values += list(secret_values(entry["cluster"].get("proxy-url")))
    return [value for value in values if isinstance(value, str) and value]


def string_leaves(value):
    """Every scalar inside nested dicts and lists, as a string (booleans and None left out)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def proxy_problem(url):
    """Why a proxy URL cannot be used (only http and https proxies are implemented), or None.

    The message never repeats the URL: it may carry credentials."""
    if not isinstance(url, str):
        return "the proxy URL must be a string"
    try:
        parsed = urlparse(url)
        parsed.port     # parsed only when asked: a port out of range or not a number raises here
    except ValueError:
        return "the proxy URL cannot be parsed (is its port a number from 0 to 65535, an IPv6 address in brackets?)"
    if parsed.scheme not in PROXY_SCHEMES:
        return ("proxy scheme %r is not supported (supported: %s)" % (parsed.scheme, ", ".join(PROXY_SCHEMES))
                if parsed.scheme else "the proxy URL has no scheme; write it as http://host:port or https://host:port")
    if not parsed.hostname:
        return "the proxy URL names no host"
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        return "the proxy URL contains a space or a control character"
    return None


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
