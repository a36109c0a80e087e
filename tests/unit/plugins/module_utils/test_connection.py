"""Connection options -> a Connection, the kubernetes.core way (no cluster needed); here through the kubernetes
client's own loader, which resolve_connection takes for credential plugins and pods."""

import base64

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import (
    KubeClient,
    _bypass_proxy,
    _proxy_from_environment,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import (
    AUTH_ARG_SPEC,
    Connection,
    kubernetes_configuration,
    locate_kubeconfig,
    resolve_connection,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError
from resolved import default_namespace

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def kubeconfig_dict(namespace=None):
    context = {"cluster": "c1", "user": "u1"}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "one",
        "clusters": [{"name": "c1", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": CA}},
                     {"name": "c2", "cluster": {"server": "https://10.0.0.2:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u1", "user": {"token": "token-one"}}, {"name": "u2", "user": {"token": "token-two"}}],
        "contexts": [{"name": "one", "context": context}, {"name": "two", "context": {"cluster": "c2", "user": "u2"}}],
    }


def build_configuration(params):
    """The kubernetes client's loader on what the options point at."""
    return kubernetes_configuration(params, locate_kubeconfig(params))


def bearer(cfg):
    return cfg.auth_settings()["BearerToken"]["value"]


def test_every_kubernetes_core_environment_variable_is_a_fallback():
    env = dict((name, spec["fallback"][1][0]) for name, spec in AUTH_ARG_SPEC.items())
    assert env == {
        "kubeconfig": "K8S_AUTH_KUBECONFIG", "context": "K8S_AUTH_CONTEXT", "host": "K8S_AUTH_HOST",
        "api_key": "K8S_AUTH_API_KEY", "username": "K8S_AUTH_USERNAME", "password": "K8S_AUTH_PASSWORD",
        "validate_certs": "K8S_AUTH_VERIFY_SSL", "ca_cert": "K8S_AUTH_SSL_CA_CERT", "client_cert": "K8S_AUTH_CERT_FILE",
        "client_key": "K8S_AUTH_KEY_FILE", "proxy": "K8S_AUTH_PROXY", "no_proxy": "K8S_AUTH_NO_PROXY",
    }
    assert AUTH_ARG_SPEC["api_key"]["no_log"] is True
    assert AUTH_ARG_SPEC["password"]["no_log"] is True


def test_kubeconfig_dict_and_context():
    cfg = build_configuration({"kubeconfig": kubeconfig_dict()})
    assert cfg.host == "https://10.0.0.1:6443"
    assert bearer(cfg) == "Bearer token-one"
    assert cfg.verify_ssl is True
    other = build_configuration({"kubeconfig": kubeconfig_dict(), "context": "two"})
    assert other.host == "https://10.0.0.2:6443"
    assert other.verify_ssl is False


def test_kubeconfig_file_and_explicit_overrides(tmp_path):
    import json
    path = tmp_path / "config"
    path.write_text(json.dumps(kubeconfig_dict()))  # JSON is YAML
    cfg = build_configuration({"kubeconfig": str(path), "host": "https://override:1/", "api_key": "secret",
                               "validate_certs": False, "ca_cert": "/ca.pem", "client_cert": "/c.pem",
                               "client_key": "/k.pem", "proxy": "http://proxy:3128", "no_proxy": "internal"})
    assert cfg.host == "https://override:1"
    assert bearer(cfg) == "Bearer secret"
    assert (cfg.verify_ssl, cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file) == (False, "/ca.pem", "/c.pem", "/k.pem")
    assert (cfg.proxy, cfg.no_proxy) == ("http://proxy:3128", "internal")


def test_host_and_token_need_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = build_configuration({"host": "https://127.0.0.1:16443", "api_key": "abc"})
    assert cfg.host == "https://127.0.0.1:16443"
    assert bearer(cfg) == "Bearer abc"


def test_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(KubeError, match="kubeconfig .*/nope does not exist"):
        build_configuration({"kubeconfig": str(tmp_path / "nope")})


def test_broken_kubeconfig_is_a_clear_error(tmp_path):
    path = tmp_path / "config"
    path.write_text("contexts: []\n")
    with pytest.raises(KubeError, match="cannot load the Kubernetes connection configuration"):
        build_configuration({"kubeconfig": str(path)})


def test_default_namespace_follows_the_context(tmp_path):
    assert default_namespace({"kubeconfig": kubeconfig_dict("team-a")}) == "team-a"
    assert default_namespace({"kubeconfig": kubeconfig_dict("team-a"), "context": "two"}) == "default"
    assert default_namespace({"host": "https://x:1", "api_key": "k"}) == "default"
    import json
    path = tmp_path / "config"
    path.write_text(json.dumps(kubeconfig_dict("from-file")))
    assert default_namespace({"kubeconfig": str(path)}) == "from-file"


def test_no_proxy_matching():
    assert _bypass_proxy("https://api.internal.example:6443", "example")
    assert _bypass_proxy("https://API.Example.com:6443", ".example.com")
    assert _bypass_proxy("https://anything:1", "*")
    assert _bypass_proxy("https://10.1.2.3:6443", "192.168.0.0/16, 10.0.0.0/8")
    assert not _bypass_proxy("https://10.1.2.3:6443", "192.168.0.0/16,garbage/99")
    assert not _bypass_proxy("https://api.example.com:6443", "example.org,.internal")
    assert not _bypass_proxy("https://api.example.com:6443", None)


@pytest.mark.parametrize("host", ["https://127.0.0.1:16443", "https://localhost:6443", "https://[::1]:6443"])
def test_loopback_bypasses_only_a_proxy_from_the_environment(host):
    assert _bypass_proxy(host, None, from_environment=True)
    assert not _bypass_proxy(host, None, from_environment=False)   # an explicit proxy is used


def test_proxy_from_https_proxy_environment_is_recognised(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://envproxy:3128")
    cfg = build_configuration({"host": "https://10.0.0.1:6443", "api_key": "t"})
    assert cfg.proxy == "http://envproxy:3128"
    assert _proxy_from_environment(cfg) is True
    explicit = build_configuration({"host": "https://10.0.0.1:6443", "api_key": "t", "proxy": "http://mine:1"})
    assert _proxy_from_environment(explicit) is False


def test_request_headers_carry_the_token_or_basic_auth():
    client = KubeClient(Connection(build_configuration({"kubeconfig": kubeconfig_dict(), "api_key": "tok"})))
    assert client._headers("application/json")["Authorization"] == "Bearer tok"
    basic = KubeClient(Connection(build_configuration({"host": "https://x:1", "username": "ann", "password": "pw"})))
    assert basic._headers()["authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()
