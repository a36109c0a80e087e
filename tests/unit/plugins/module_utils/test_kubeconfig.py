"""The fast kubeconfig loader against the kubernetes client's own loader (the real library, installed in the
virtualenv): for the same kubeconfig both must give the same server, TLS files, credentials and proxy."""

import base64
import json
import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import pytest
import yaml
from kubernetes import config as kube_config
from kubernetes.client import Configuration

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import kubeconfig as loader
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import resolve_connection
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import KubeError
from resolved import client_of, connection_settings, default_namespace

CA = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN EC PRIVATE KEY-----\nSECRETKEY\n-----END EC PRIVATE KEY-----\n"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")


def b64(data):
    return base64.b64encode(data).decode()


def config(cluster, user, namespace=None, current="main"):
    context = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "current-context": current,
            "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "main", "context": context}]}


def write(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return str(path)


def write_pki(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (("ca.crt", CA), ("client.crt", CERT), ("client.key", KEY)):
        (directory / name).write_bytes(content)


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def reference(kubeconfig, context=None):
    """What the kubernetes client's loader makes of it."""
    cfg = Configuration()
    if isinstance(kubeconfig, dict):
        kube_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=cfg,
                                               persist_config=False)
    else:
        kube_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                     persist_config=False)
    return cfg


def fast(kubeconfig, context=None):
    settings = connection_settings({"kubeconfig": kubeconfig, "context": context})
    assert isinstance(settings, loader.ConnectionSettings), "took the kubernetes client's loader"
    return settings


def seen_by_the_client(cfg):
    """Everything a request depends on: file contents rather than (temporary) paths."""
    def content(path):
        return None if path is None else pathlib.Path(path).read_bytes()

    headers = dict((name.lower(), value) for name, value in client_of(cfg)._headers().items())
    return {"host": cfg.host, "verify_ssl": cfg.verify_ssl, "ca": content(cfg.ssl_ca_cert),
            "cert": content(cfg.cert_file), "key": content(cfg.key_file), "authorization": headers.get("authorization"),
            "tls_server_name": cfg.tls_server_name, "proxy": cfg.proxy, "no_proxy": cfg.no_proxy}


def assert_same(kubeconfig, context=None):
    ours = seen_by_the_client(fast(kubeconfig, context))
    assert ours == seen_by_the_client(reference(kubeconfig, context))
    return ours


def test_certificate_files_relative_to_the_kubeconfig_directory(tmp_path, monkeypatch):
    write_pki(tmp_path / "cluster" / "pki")
    path = write(tmp_path / "cluster" / "kubeconfig", config(
        {"server": "https://10.0.0.1:6443/", "certificate-authority": "pki/ca.crt"},
        {"client-certificate": "pki/client.crt", "client-key": "./pki/../pki/client.key"}))
    monkeypatch.chdir(tmp_path)   # relative to the kubeconfig, not to where the module runs
    seen = assert_same(path)
    assert (seen["host"], seen["ca"], seen["cert"], seen["key"]) == ("https://10.0.0.1:6443", CA, CERT, KEY)
    assert seen["authorization"] is None
    assert fast(path).ssl_ca_cert == str(tmp_path / "cluster" / "pki" / "ca.crt")


def test_data_fields_go_to_private_files(tmp_path):
    path = write(tmp_path / "kubeconfig", config(
        {"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(CA)},
        {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}))
    seen = assert_same(path)
    assert (seen["ca"], seen["cert"], seen["key"]) == (CA, CERT, KEY)
    settings = fast(path)
    for name in (settings.ssl_ca_cert, settings.cert_file, settings.key_file):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600


@pytest.mark.parametrize("user,authorization", [
    ({"token": "abc.def"}, "Bearer abc.def"),
    ({"username": "ann", "password": "s3cret"}, "Basic " + b64(b"ann:s3cret")),
    ({}, None),
], ids=["token", "basic", "anonymous"])
def test_credentials(tmp_path, user, authorization):
    path = write(tmp_path / "kubeconfig", config({"server": "https://10.0.0.1:6443",
                                                  "certificate-authority-data": b64(CA)}, user))
    assert assert_same(path)["authorization"] == authorization


def test_token_file_relative_to_the_kubeconfig(tmp_path, monkeypatch):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("from-file")
    path = write(tmp_path / "kubeconfig", config({"server": "https://10.0.0.1:6443"}, {"tokenFile": "secrets/token"}))
    monkeypatch.chdir("/")
    assert assert_same(path)["authorization"] == "Bearer from-file"


def test_token_file_newline_is_trimmed_as_client_go_does(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    path = write(tmp_path / "kubeconfig", config({"server": "https://10.0.0.1:6443"}, {"tokenFile": "token"}))
    assert fast(path).api_key == {"authorization": "Bearer from-file"}


@pytest.mark.parametrize("cluster", [
    {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True},
    {"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(CA), "tls-server-name": "api.internal"},
    {"server": "https://10.0.0.1:6443", "proxy-url": "http://proxy.example:3128"},
    {"server": "http://10.0.0.1:8080", "certificate-authority": "not/used/for/http.crt"},
], ids=["insecure", "tls-server-name", "proxy-url", "plain-http"])
def test_cluster_fields(tmp_path, cluster):
    path = write(tmp_path / "kubeconfig", config(cluster, {"token": "t"}))
    seen = assert_same(path)
    assert seen["verify_ssl"] is not cluster.get("insecure-skip-tls-verify", False)
    assert seen["tls_server_name"] == cluster.get("tls-server-name")
    assert seen["proxy"] == cluster.get("proxy-url")


@pytest.mark.parametrize("server", ["https://10.0.0.1:6443", "http://10.0.0.1:8080"])
def test_proxy_from_the_environment_like_configuration(tmp_path, monkeypatch, server):
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,10.1.0.0/16")
    path = write(tmp_path / "kubeconfig", config({"server": server, "insecure-skip-tls-verify": True}, {"token": "t"}))
    seen = assert_same(path)
    assert seen["proxy"] == ("http://secure-proxy:3128" if server.startswith("https") else "http://plain-proxy:3128")
    assert seen["no_proxy"] == "internal.example,10.1.0.0/16"


def test_all_proxy_when_no_scheme_proxy(tmp_path, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "http://all-proxy:3128")
    path = write(tmp_path / "kubeconfig", config({"server": "https://10.0.0.1:6443"}, {"token": "t"}))
    assert assert_same(path)["proxy"] == "http://all-proxy:3128"


def split_kubeconfig(tmp_path):
    """Two files as KUBECONFIG lists them: the first sets current-context and wins on the clusters both define."""
    write_pki(tmp_path / "one" / "pki")
    first = write(tmp_path / "one" / "config", {
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": "https://first:6443", "certificate-authority": "pki/ca.crt"}}],
        "users": [{"name": "u", "user": {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u", "namespace": "from-first"}}]})
    second = write(tmp_path / "two" / "config", {
        "clusters": [{"name": "c", "cluster": {"server": "https://second:6443"}},
                     {"name": "other", "cluster": {"server": "https://other:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "second-wins-nothing"}}, {"name": "v", "user": {"token": "vee"}}],
        "contexts": [{"name": "main", "context": {"cluster": "other", "user": "v"}},
                     {"name": "side", "context": {"cluster": "other", "user": "v", "namespace": "from-second"}}]})
    return first + os.pathsep + str(tmp_path / "missing") + os.pathsep + second


def test_kubeconfig_list_merges_like_kubectl(tmp_path):
    paths = split_kubeconfig(tmp_path)
    seen = assert_same(paths)
    assert (seen["host"], seen["ca"], seen["cert"], seen["authorization"]) == ("https://first:6443", CA, CERT, None)
    side = assert_same(paths, "side")
    assert (side["host"], side["verify_ssl"], side["authorization"]) == ("https://other:6443", False, "Bearer vee")
    assert default_namespace({"kubeconfig": paths}) == "from-first"
    assert default_namespace({"kubeconfig": paths, "context": "side"}) == "from-second"


def test_kubeconfig_environment_variable_is_the_default(tmp_path, monkeypatch):
    paths = split_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", paths)
    ours = seen_by_the_client(connection_settings({"context": "side"}))
    assert ours == seen_by_the_client(reference(paths, "side"))
    assert default_namespace({}) == "from-first"


def test_first_current_context_wins_as_in_client_go(tmp_path):
    """kubectl keeps the first file's current-context; the kubernetes Python client takes the last one."""
    first = write(tmp_path / "a", config({"server": "https://a:1"}, {}, namespace="ns-a", current="main"))
    second = write(tmp_path / "b", {"current-context": "b", "clusters": [{"name": "b", "cluster": {"server": "https://b:1"}}],
                                    "contexts": [{"name": "b", "context": {"cluster": "b", "namespace": "ns-b"}}]})
    paths = first + os.pathsep + second
    assert fast(paths).host == "https://a:1"
    assert default_namespace({"kubeconfig": paths}) == "ns-a"


def test_user_certificates_relative_to_the_file_that_defines_the_user(tmp_path):
    """client-go resolves each relative path against its own file, also when cluster and user come from two."""
    write_pki(tmp_path / "users" / "pki")
    clusters = write(tmp_path / "clusters" / "config", {
        "current-context": "main", "clusters": [{"name": "c", "cluster": {"server": "https://x:1"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}]})
    users = write(tmp_path / "users" / "config", {"users": [{"name": "u", "user": {
        "client-certificate": "pki/client.crt", "client-key": "pki/client.key"}}]})
    settings = fast(clusters + os.pathsep + users)
    assert settings.cert_file == str(tmp_path / "users" / "pki" / "client.crt")
    assert settings.key_file == str(tmp_path / "users" / "pki" / "client.key")


def test_kubeconfig_dict_and_context_option():
    document = config({"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(CA)},
                      {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}, namespace="team")
    document["clusters"].append({"name": "c2", "cluster": {"server": "https://10.0.0.2:6443",
                                                           "insecure-skip-tls-verify": True}})
    document["users"].append({"name": "u2", "user": {"token": "two"}})
    document["contexts"].append({"name": "two", "context": {"cluster": "c2", "user": "u2"}})
    seen = assert_same(document)
    assert (seen["ca"], seen["cert"], seen["key"]) == (CA, CERT, KEY)
    two = assert_same(document, "two")
    assert (two["host"], two["verify_ssl"], two["authorization"]) == ("https://10.0.0.2:6443", False, "Bearer two")
    assert default_namespace({"kubeconfig": document}) == "team"
    assert default_namespace({"kubeconfig": document, "context": "two"}) == "default"


def test_explicit_options_override_the_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    path = write(tmp_path / "kubeconfig", config({"server": "https://10.0.0.1:6443", "proxy-url": "http://kc:1"},
                                                 {"username": "ann", "password": "pw"}))
    settings = connection_settings({"kubeconfig": path, "host": "https://override:1/", "api_key": "secret",
                                    "validate_certs": False, "ca_cert": "/ca.pem", "client_cert": "/c.pem",
                                    "client_key": "/k.pem", "proxy": "http://mine:1", "no_proxy": "internal"})
    assert (settings.host, settings.api_key) == ("https://override:1", {"authorization": "Bearer secret"})
    assert (settings.verify_ssl, settings.ssl_ca_cert, settings.cert_file, settings.key_file) == (
        False, "/ca.pem", "/c.pem", "/k.pem")
    assert (settings.proxy, settings.no_proxy) == ("http://mine:1", "internal")
    host_only = connection_settings({"host": "https://10.9.9.9:6443", "api_key": "t"})
    assert isinstance(host_only, loader.ConnectionSettings)
    assert (host_only.host, host_only.proxy) == ("https://10.9.9.9:6443", "http://env-proxy:3128")


def test_unknown_context_lists_the_ones_there(tmp_path):
    path = write(tmp_path / "kubeconfig", config({"server": "https://x:1"}, {"token": "t"}))
    with pytest.raises(Exception):
        reference(path, "nope")
    with pytest.raises(KubeError) as error:
        connection_settings({"kubeconfig": path, "context": "nope"})
    assert str(error.value) == 'kubeconfig %s has no context "nope" (contexts: main)' % path


def test_context_naming_a_missing_cluster_or_user(tmp_path):
    """A missing cluster fails in both loaders. A missing user the kubernetes client (and kubectl) would
    turn into anonymous requests that fail later with a puzzling 401/403; we say what is wrong instead."""
    no_cluster = config({"server": "https://x:1"}, {"token": "t"})
    no_cluster["contexts"][0]["context"]["cluster"] = "gone"
    with pytest.raises(Exception):
        reference(no_cluster)
    with pytest.raises(KubeError, match='context "main" names cluster "gone", which it does not define '
                                        r'\(clusters: c\)'):
        connection_settings({"kubeconfig": no_cluster})
    no_user = config({"server": "https://x:1"}, {"token": "t"})
    no_user["contexts"][0]["context"]["user"] = "ghost"
    with pytest.raises(KubeError, match=r'names user "ghost", which it does not define \(users: u\)'):
        connection_settings({"kubeconfig": no_user})


def test_no_current_context(tmp_path):
    path = write(tmp_path / "kubeconfig", config({"server": "https://x:1"}, {}, current=None))
    with pytest.raises(KubeError, match="sets no current-context; choose one with the context option"):
        connection_settings({"kubeconfig": path})


def test_unreadable_certificate_file_is_named(tmp_path):
    path = write(tmp_path / "kubeconfig", config({"server": "https://x:1", "certificate-authority": "ca.crt"}, {}))
    with pytest.raises(KubeError) as error:
        connection_settings({"kubeconfig": path})
    assert str(error.value) == ('kubeconfig %s: cannot read certificate-authority %s of cluster "c": '
                                'No such file or directory' % (path, tmp_path / "ca.crt"))


@pytest.mark.parametrize("kubeconfig_text", [
    "users: [{name: u, user: {token: TOPSECRET}]\n",                         # broken YAML
    yaml.safe_dump(config({"server": "https://x:1"}, {"token": "TOPSECRET", "client-key-data": "TOPSECRET!"})),
    yaml.safe_dump(config({"server": "https://x:1"}, {"password": "TOPSECRET", "username": "u",
                                                      "tokenFile": "missing-token"})),
], ids=["yaml", "base64", "token-file"])
def test_errors_carry_no_secret(tmp_path, kubeconfig_text):
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_text)
    with pytest.raises(KubeError) as error:
        connection_settings({"kubeconfig": str(path)})
    assert "TOPSECRET" not in str(error.value)
    assert str(path) in str(error.value)


def exec_plugin(tmp_path):
    script = tmp_path / "credential-plugin"
    script.write_text("#!%s\nimport json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      "'kind': 'ExecCredential', 'status': {'token': 'from-exec'}}))\n" % sys.executable)
    script.chmod(0o755)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}}


def oidc_provider():
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    id_token = "%s.%s.c2ln" % (part({"alg": "none"}), part({"exp": 4102444800, "sub": "ann"}))
    return {"auth-provider": {"name": "oidc", "config": {"id-token": id_token, "idp-issuer-url": "https://idp"}}}, id_token


def test_credential_plugins_take_the_kubernetes_client_loader(tmp_path):
    exec_config = config({"server": "https://x:1", "insecure-skip-tls-verify": True}, exec_plugin(tmp_path))
    cfg = connection_settings({"kubeconfig": write(tmp_path / "exec", exec_config)})
    assert isinstance(cfg, Configuration)
    assert client_of(cfg)._headers()["Authorization"] == "Bearer from-exec"
    user, id_token = oidc_provider()
    cfg = connection_settings({"kubeconfig": config({"server": "https://x:1", "insecure-skip-tls-verify": True}, user)})
    assert isinstance(cfg, Configuration)
    assert client_of(cfg)._headers()["Authorization"] == "Bearer " + id_token


def collection_path():
    """The directory holding ansible_collections/, for a child Python."""
    return str(pathlib.Path(loader.__file__).parents[6])


def run_child(code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=collection_path()), cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cert_kubeconfig_never_imports_kubernetes_and_cleans_up(tmp_path):
    """The point of the fast loader: the module_utils load and build a client without `import kubernetes`,
    and the private files of *-data fields are gone when the process ends."""
    path = write(tmp_path / "kubeconfig", config(
        {"server": "https://10.0.0.1:6443", "certificate-authority-data": b64(CA)},
        {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}, namespace="team"))
    result = run_child("""
        import json, sys
        from ansible_collections.kubedev.devloop.plugins.module_utils import rollout_module
        from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import HAS_KUBERNETES, KubeClient
        from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import resolve_connection
        client = KubeClient(resolve_connection({"kubeconfig": %r}))
        print(json.dumps({"kubernetes": "kubernetes" in sys.modules, "has": HAS_KUBERNETES,
                          "namespace": client.default_namespace,
                          "files": [client.configuration.ssl_ca_cert, client.configuration.key_file]}))
    """ % path, tmp_path)
    assert result["kubernetes"] is False
    assert result["has"] is True
    assert result["namespace"] == "team"
    assert [os.path.exists(name) for name in result["files"]] == [False, False]


def test_exec_kubeconfig_does_import_kubernetes(tmp_path):
    """The same check sees the fallback: it is not vacuous."""
    path = write(tmp_path / "kubeconfig", config({"server": "https://x:1"}, exec_plugin(tmp_path)))
    result = run_child("""
        import json, sys
        from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import KubeClient
        from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import resolve_connection
        client = KubeClient(resolve_connection({"kubeconfig": %r}))
        print(json.dumps({"kubernetes": "kubernetes" in sys.modules, "type": type(client.configuration).__name__}))
    """ % path, tmp_path)
    assert result == {"kubernetes": True, "type": "Configuration"}


@pytest.fixture()
def in_a_pod(tmp_path, monkeypatch):
    """No kubeconfig anywhere, but a service account (token, CA) and the service's address in the environment,
    as the kubelet gives a pod: the module runs in a pod."""
    from kubernetes.config import incluster_config

    from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import connection

    token, ca, namespace = tmp_path / "token", tmp_path / "ca.crt", tmp_path / "namespace"
    token.write_text("pod-token")
    ca.write_bytes(CA)
    monkeypatch.setattr(connection, "IN_CLUSTER_TOKEN", str(token))
    monkeypatch.setattr(connection, "IN_CLUSTER_NAMESPACE", str(namespace))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    return namespace


def test_in_a_pod_the_service_account_connects(in_a_pod):
    connection = resolve_connection({})
    assert isinstance(connection.settings, Configuration)
    assert connection.settings.host == "https://10.96.0.1:443"
    # The kubernetes client writes "bearer"; the API server reads the scheme case-insensitively.
    assert client_of(connection.settings)._headers()["Authorization"].lower() == "bearer pod-token"


def test_in_a_pod_the_default_namespace_is_the_pods_own(in_a_pod, monkeypatch):
    # client-go's in-cluster config: POD_NAMESPACE, else the service account's namespace file, else default
    assert default_namespace({}) == "default"
    in_a_pod.write_text("team-a\n")
    assert default_namespace({}) == "team-a"
    monkeypatch.setenv("POD_NAMESPACE", "team-b")
    assert default_namespace({}) == "team-b"


@pytest.mark.parametrize("user", [{"token": "t"}, "exec"])
def test_one_resolution_reads_the_kubeconfig_once(tmp_path, monkeypatch, user):
    """Server, credentials, impersonation and namespace all come from one read, also when a credential
    plugin sends the credentials to the kubernetes client's loader."""
    user = exec_plugin(tmp_path) if user == "exec" else user
    path = write(tmp_path / "kubeconfig", config({"server": "https://x:1"}, dict(user, **{"as": "ann"}), namespace="team"))
    reads = []
    real_read = loader.read
    monkeypatch.setattr(loader, "read", lambda source: reads.append(source) or real_read(source))
    connection = resolve_connection({"kubeconfig": path})
    assert (connection.namespace, connection.settings.impersonate["user"]) == ("team", "ann")
    assert reads == [path]
