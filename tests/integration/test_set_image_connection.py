"""Connection options as kubernetes.core has them: K8S_AUTH_* variables, context, proxy; kubeconfig forms."""

import base64
import json
import select
import socket
import socketserver
import sys
import threading

import pytest
import yaml

from test_set_image_support import APP, create, deployment, images, read, run_module

pytestmark = pytest.mark.integration


class ConnectProxy(socketserver.ThreadingTCPServer):
    """A real HTTP CONNECT proxy on loopback that records where it tunnelled to."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.tunnels = []
        super(ConnectProxy, self).__init__(("127.0.0.1", 0), _Tunnel)


class _Tunnel(socketserver.StreamRequestHandler):
    def handle(self):
        request = self.rfile.readline().decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        method, target, _version = request.split()
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        self.server.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()


@pytest.fixture()
def proxy():
    server = ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def cluster_of(kubeconfig):
    with open(kubeconfig) as handle:
        config = yaml.safe_load(handle)
    return config, config["clusters"][0]["cluster"]["server"]


def test_proxy_option_tunnels_through_the_proxy(tmp_path, kubeconfig, apps_v1, namespace, proxy):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    _config, server = cluster_of(kubeconfig)
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "proxy": "http://127.0.0.1:%d" % proxy.server_address[1]})
    assert result["targets"][0]["status"] == "complete", result
    assert proxy.tunnels and set(proxy.tunnels) == {server.split("://", 1)[1]}


def test_k8s_auth_environment_variables(tmp_path, kubeconfig, apps_v1, core_v1, rbac_v1, namespace):
    """host, token and CA only from K8S_AUTH_* (no kubeconfig at all)."""
    config, server = cluster_of(kubeconfig)
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "ci"}})
    rbac_v1.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "ci-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": namespace}]})
    token = core_v1.create_namespaced_service_account_token(
        "ci", namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    env = {"K8S_AUTH_KUBECONFIG": "", "K8S_AUTH_HOST": server, "K8S_AUTH_API_KEY": token,
           "K8S_AUTH_SSL_CA_CERT": str(ca), "K8S_AUTH_VERIFY_SSL": "yes", "KUBECONFIG": str(tmp_path / "none")}

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}}, env=env)
    assert result["targets"][0]["status"] == "complete", result
    assert token not in str(result)
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}


def test_context_option_and_its_namespace(tmp_path, kubeconfig, apps_v1, namespace):
    """The current context points at a dead server; `context` picks the good one, whose namespace is
    used when the task names none (as kubectl does)."""
    config, _server = cluster_of(kubeconfig)
    good = config["contexts"][0]
    good["context"]["namespace"] = namespace
    config["clusters"].append({"name": "dead", "cluster": {"server": "https://127.0.0.1:1",
                                                           "insecure-skip-tls-verify": True}})
    config["contexts"].append({"name": "dead", "context": {"cluster": "dead", "user": good["context"]["user"]}})
    config["current-context"] = "dead"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    create(apps_v1, kubeconfig, namespace, deployment("web"))

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "containers": {"web": APP + ":2"}, "kubeconfig": str(path), "context": good["name"]})
    assert result["targets"][0]["namespace"] == namespace
    assert result["targets"][0]["status"] == "complete"

    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {"name": "web", "kubeconfig": str(path)})
    assert result["msg"].startswith("the Kubernetes API at https://127.0.0.1:1 is unreachable: connection refused")


# The fast kubeconfig loader (module_utils/_k8s/kubeconfig.py) against the real API server. An interpreter whose
# `import kubernetes` fails (a stand-in package first on its path; the package is still found, so the
# module's requirement check passes) proves a run never imported the kubernetes client.

POISONED_KUBERNETES = 'raise ImportError("kubernetes was imported")\n'


@pytest.fixture()
def no_kubernetes_import_python(tmp_path):
    package = tmp_path / "poison" / "kubernetes"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(POISONED_KUBERNETES)
    wrapper = tmp_path / "python-without-kubernetes-import"
    wrapper.write_text('#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' % (package.parent, sys.executable))
    wrapper.chmod(0o755)
    return str(wrapper)


def pki_of(kubeconfig):
    """CA, client certificate and key (PEM bytes) of the test cluster's kubeconfig (all *-data fields)."""
    config, _server = cluster_of(kubeconfig)
    user = config["users"][0]["user"]
    return {"ca.crt": base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]),
            "admin.crt": base64.b64decode(user["client-certificate-data"]),
            "admin.key": base64.b64decode(user["client-key-data"])}


def set_image_with(tmp_path, kubeconfig, namespace, module_kubeconfig, interpreter, tag):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":" + tag},
        "kubeconfig": module_kubeconfig}, interpreter=interpreter)
    return result


def test_data_fields_kubeconfig_without_importing_kubernetes(tmp_path, kubeconfig, apps_v1, namespace,
                                                              no_kubernetes_import_python):
    config, _server = cluster_of(kubeconfig)
    user = config["users"][0]["user"]
    assert "certificate-authority-data" in config["clusters"][0]["cluster"]
    assert "client-certificate-data" in user and "client-key-data" in user
    create(apps_v1, kubeconfig, namespace, deployment("web"))

    result = set_image_with(tmp_path, kubeconfig, namespace, kubeconfig, no_kubernetes_import_python, "2")
    assert result["changed"] is True and result["targets"][0]["status"] == "complete", result
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}


def test_certificate_files_relative_to_the_kubeconfig(tmp_path, kubeconfig, apps_v1, namespace,
                                                       no_kubernetes_import_python):
    """certificate-authority, client-certificate and client-key as paths relative to the kubeconfig's
    directory (ansible-playbook runs from the repository root, elsewhere)."""
    config, server = cluster_of(kubeconfig)
    pki = tmp_path / "cluster" / "pki"
    pki.mkdir(parents=True)
    for name, content in pki_of(kubeconfig).items():
        (pki / name).write_bytes(content)
    config["clusters"][0]["cluster"] = {"server": server, "certificate-authority": "pki/ca.crt"}
    config["users"][0]["user"] = {"client-certificate": "pki/admin.crt", "client-key": "pki/admin.key"}
    path = tmp_path / "cluster" / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    create(apps_v1, kubeconfig, namespace, deployment("web"))

    result = set_image_with(tmp_path, kubeconfig, namespace, str(path), no_kubernetes_import_python, "3")
    assert result["changed"] is True and result["targets"][0]["status"] == "complete", result
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":3"}


def exec_plugin_kubeconfig(tmp_path, kubeconfig):
    """The test cluster's kubeconfig with its client certificate handed out by a real exec credential plugin."""
    config, _server = cluster_of(kubeconfig)
    pki = pki_of(kubeconfig)
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"clientCertificateData": pki["admin.crt"].decode(),
                             "clientKeyData": pki["admin.key"].decode()}}
    (tmp_path / "credential.json").write_text(json.dumps(credential))
    plugin = tmp_path / "credential-plugin"
    plugin.write_text("#!/bin/sh\nexec cat %s\n" % (tmp_path / "credential.json"))
    plugin.chmod(0o755)
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                                           "interactiveMode": "Never"}}
    path = tmp_path / "exec-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_exec_credential_plugin_takes_the_kubernetes_client(tmp_path, kubeconfig, apps_v1, namespace,
                                                            no_kubernetes_import_python):
    """The fallback works for real, and the stand-in interpreter does catch an import of kubernetes."""
    path = exec_plugin_kubeconfig(tmp_path, kubeconfig)
    web = create(apps_v1, kubeconfig, namespace, deployment("web"))

    result = set_image_with(tmp_path, kubeconfig, namespace, path, no_kubernetes_import_python, "4")
    assert result["failed"] is True
    assert "needs the kubernetes Python client, which cannot be imported: kubernetes was imported" in result["msg"]
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"] == web["metadata"]["generation"]

    result = set_image_with(tmp_path, kubeconfig, namespace, path, None, "4")
    assert result["changed"] is True and result["targets"][0]["status"] == "complete", result
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":4"}
