"""The kubeconfig loader refuses what it would otherwise ignore, and honours impersonation on both paths
(the fast loader and the kubernetes client's loader for credential plugins)."""

import sys

import pytest
import urllib3
from kubernetes.client import Configuration

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import kubeconfig as loader
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import impersonation_headers
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError
from resolved import client_of, connection_settings

SERVER = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True}


def config(user, cluster=None, context_extra=None, top_extra=None):
    context = dict({"cluster": "c", "user": "u"}, **(context_extra or {}))
    document = {"apiVersion": "v1", "kind": "Config", "current-context": "main",
                "clusters": [{"name": "c", "cluster": cluster or SERVER}], "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "main", "context": context}]}
    document.update(top_extra or {})
    return document


def refused(document):
    with pytest.raises(KubeError) as error:
        connection_settings({"kubeconfig": document})
    return str(error.value)


def header_lines(settings):
    """(name, value) pairs as urllib3 sends them: one line per value."""
    return [(name, value) for name, value in client_of(settings)._headers().items() if name.startswith("Impersonate")]


def test_impersonation_becomes_impersonate_headers():
    settings = connection_settings({"kubeconfig": config({
        "token": "t", "as": "system:serviceaccount:ns:nobody", "as-uid": "1234",
        "as-groups": ["devs", "system:authenticated"], "as-user-extra": {"scopes": ["view", "edit"], "a/b c": ["x"]}})})
    assert isinstance(settings, loader.ConnectionSettings)
    assert header_lines(settings) == [
        ("Impersonate-User", "system:serviceaccount:ns:nobody"),
        ("Impersonate-Uid", "1234"),
        ("Impersonate-Group", "devs"),
        ("Impersonate-Group", "system:authenticated"),
        ("Impersonate-Extra-a%2Fb%20c", "x"),
        ("Impersonate-Extra-scopes", "view"),
        ("Impersonate-Extra-scopes", "edit"),
    ]


def test_no_impersonation_no_headers():
    assert header_lines(connection_settings({"kubeconfig": config({"token": "t"})})) == []
    assert impersonation_headers(None) == []


def exec_user(tmp_path):
    script = tmp_path / "plugin"
    script.write_text("#!%s\nimport json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      "'kind': 'ExecCredential', 'status': {'token': 'from-exec'}}))\n" % sys.executable)
    script.chmod(0o755)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}}


def test_impersonation_with_a_credential_plugin_is_kept(tmp_path):
    """The kubernetes client's loader drops as/as-groups; the headers must still be sent."""
    user = dict(exec_user(tmp_path), **{"as": "ann", "as-groups": ["devs"]})
    cfg = connection_settings({"kubeconfig": config(user)})
    assert isinstance(cfg, Configuration)
    assert client_of(cfg)._headers()["Authorization"] == "Bearer from-exec"
    assert header_lines(cfg) == [("Impersonate-User", "ann"), ("Impersonate-Group", "devs")]


@pytest.mark.parametrize("user", [{"as-groups": ["devs"]}, {"as-uid": "1"}, {"as-user-extra": {"k": ["v"]}}])
def test_impersonation_details_without_a_user_are_refused(user):
    assert "without as: impersonating groups, a uid or extra fields needs a user" in refused(config(user))


@pytest.mark.parametrize("user,problem", [
    ({"as": "ann", "as-groups": "devs"}, "as-groups must be a list of group names"),
    ({"as": "ann", "as-user-extra": {"k": "v"}}, "as-user-extra must map each key to a list of values"),
    ({"as": "ann\r\nX-Evil: 1"}, "as contains a control character"),
    ({"as": "ann", "as-groups": [""]}, "as-groups must be a non-empty string"),
])
def test_malformed_impersonation_is_refused(user, problem):
    assert problem in refused(config(user))


@pytest.mark.parametrize("where,document,named", [
    ("user", config({"token": "t", "tokn": "x"}), 'user "u" sets tokn'),
    ("cluster", config({"token": "t"}, cluster=dict(SERVER, **{"certificate-authorty": "ca.crt"})),
     'cluster "c" sets certificate-authorty'),
    ("context", config({"token": "t"}, context_extra={"namepsace": "x"}), 'context "main" sets namepsace'),
    ("top", config({"token": "t"}, top_extra={"current_context": "other"}), "the top level sets current_context"),
])
def test_unknown_fields_are_refused_not_ignored(where, document, named):
    message = refused(document)
    assert named in message
    assert "refuses the kubeconfig rather than ignore them" in message


def test_fields_that_change_nothing_are_accepted():
    document = config({"token": "t", "extensions": [{"name": "x", "extension": {}}]},
                      cluster=dict(SERVER, **{"disable-compression": True, "extensions": []}),
                      context_extra={"extensions": []}, top_extra={"preferences": {}, "extensions": []})
    assert isinstance(connection_settings({"kubeconfig": document}), loader.ConnectionSettings)


def test_a_quoted_boolean_is_refused():
    """'false' as a string would read as true (skip verification); client-go refuses it as well."""
    message = refused(config({"token": "t"}, cluster={"server": "https://x:1", "insecure-skip-tls-verify": "false"}))
    assert "insecure-skip-tls-verify must be true or false, not 'false'" in message


@pytest.mark.parametrize("user", [
    {"token": "t", "username": "ann", "password": "pw"},
    {"token": "t", "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}},
    {"auth-provider": {"name": "oidc", "config": {}}, "exec": {"apiVersion": "v1", "command": "x"}},
])
def test_more_than_one_authentication_method_is_refused(user):
    assert "has more than one authentication method" in refused(config(user))


def test_plugin_parts_the_kubernetes_client_does_not_implement_are_refused():
    assert "auth-provider 'azure' is not supported (supported: gcp, oidc)" in refused(
        config({"auth-provider": {"name": "azure", "config": {}}}))
    assert 'user "u" exec sets cacheTTL' in refused(
        config({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x", "cacheTTL": "1h"}}))


@pytest.mark.parametrize("proxy,problem", [
    ("socks5://proxy:1080", "proxy scheme 'socks5' is not supported (supported: http, https)"),
    ("proxy.example:3128", "proxy scheme 'proxy.example' is not supported"),
    ("//proxy:3128", "the proxy URL has no scheme"),
    ("http://", "the proxy URL names no host"),
])
def test_unsupported_proxies_are_clear_errors(proxy, problem):
    assert problem in refused(config({"token": "t"}, cluster=dict(SERVER, **{"proxy-url": proxy})))
    with pytest.raises(KubeError, match="proxy option: " + problem.replace("(", r"\(").replace(")", r"\)")):
        connection_settings({"kubeconfig": config({"token": "t"}), "proxy": proxy})


def test_proxy_errors_never_repeat_the_url():
    message = refused(config({"token": "t"}, cluster=dict(SERVER, **{"proxy-url": "socks5://ann:TOPSECRET@p:1"})))
    assert "TOPSECRET" not in message


def test_proxy_credentials_become_proxy_authorization():
    settings = connection_settings({"kubeconfig": config({"token": "t"}), "proxy": "http://ann:p%40ss@proxy:3128"})
    pool = client_of(settings).pool
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy.url == "http://proxy:3128"
    assert pool.proxy_headers["Proxy-Authorization"] == urllib3.util.make_headers(
        proxy_basic_auth="ann:p@ss")["proxy-authorization"]


def test_secret_values_are_the_users_credentials_and_proxy_passwords():
    document = config({"token": "TOKEN", "client-key-data": "KEY", "as": "ann"},
                      cluster=dict(SERVER, **{"proxy-url": "http://bob:PROXYPW@p:1"}))
    assert loader.secret_values(document) == {"TOKEN", "KEY", "ann", "PROXYPW"}
    assert loader.secret_values("http://bob:p%21w@p:1") == {"p%21w", "p!w"}
    assert loader.secret_values("/home/ann/.kube/config") == set()
