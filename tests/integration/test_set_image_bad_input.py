"""Bad input gets a clear error and changes nothing."""

import shutil
import subprocess

import pytest

from test_set_image_support import APP, create, deployment, images, read, run_module

pytestmark = pytest.mark.integration


@pytest.fixture()
def web(kubeconfig, apps_v1, namespace):
    return create(apps_v1, kubeconfig, namespace, deployment("web", containers=[
        {"name": "web", "image": APP + ":1"}, {"name": "side", "image": APP + "-side:1"}],
        init_containers=[{"name": "migrate", "image": APP + ":1"}]))


def assert_untouched(apps_v1, namespace, before):
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert images(after) == images(before)


def test_unknown_deployment(tmp_path, kubeconfig, apps_v1, namespace, web):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": ["web", "nope"], "namespace": namespace, "containers": {"web": APP + ":2"}})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "Deployment 'nope' not found in namespace %r" % namespace
    assert_untouched(apps_v1, namespace, web)


def test_label_selector_matching_nothing(tmp_path, kubeconfig, apps_v1, namespace, web):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "label_selectors": ["app=none"], "namespace": namespace, "containers": {"web": APP + ":2"}})
    assert result["msg"] == "no Deployment in namespace %r matches the label selector 'app=none'" % namespace
    assert_untouched(apps_v1, namespace, web)


def test_unknown_container_lists_the_real_ones(tmp_path, kubeconfig, apps_v1, namespace, web):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2", "wbe": APP + ":2"}})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("nothing was changed: Deployment %s/web has no container named 'wbe' "
                             "(containers: web, side; initContainers: migrate)" % namespace)
    assert_untouched(apps_v1, namespace, web)


@pytest.mark.parametrize("image,problem", [
    ("Registry.example.com/App:1", "repository name must be lowercase: 'App'"),
    ("app:1 ", "contains whitespace"),
    ("", "image reference is empty"),
    ("app@sha256:1234", "invalid digest"),
])
def test_invalid_image_reference(tmp_path, kubeconfig, apps_v1, namespace, web, image, problem):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": image}})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("nothing was changed: container 'web': ")
    assert problem in result["msg"]
    assert_untouched(apps_v1, namespace, web)


@pytest.mark.parametrize("timeout", [0, -10])
def test_non_positive_timeout(tmp_path, kubeconfig, apps_v1, namespace, web, timeout):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": timeout})
    assert result["msg"] == "nothing was changed: wait_timeout must be a positive number of seconds, got %d" % timeout
    assert_untouched(apps_v1, namespace, web)


def test_unreachable_api_server(tmp_path, kubeconfig, apps_v1, namespace, web):
    # A closed port on loopback: connection refused.
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "host": "https://127.0.0.1:1", "api_key": "not-used"})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("the Kubernetes API at https://127.0.0.1:1 is unreachable: connection refused")
    assert "not-used" not in str(result)
    assert_untouched(apps_v1, namespace, web)


def test_tls_error_is_named(tmp_path, kubeconfig, apps_v1, namespace, web):
    # The real API server, but with a CA that did not sign its certificate (the system bundle).
    server = read_server(kubeconfig)
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "host": server, "api_key": "x", "ca_cert": "/etc/ssl/certs/ca-certificates.crt"}, env={"K8S_AUTH_KUBECONFIG": ""})
    assert result["msg"].startswith("TLS error talking to the Kubernetes API at %s: " % server)
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"]
    assert_untouched(apps_v1, namespace, web)


def test_wrong_token_is_401(tmp_path, kubeconfig, apps_v1, namespace, web):
    server = read_server(kubeconfig)
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "host": server, "api_key": "wrong-token", "validate_certs": False}, env={"K8S_AUTH_KUBECONFIG": ""})
    assert result["msg"].startswith("401 Unauthorized: the API server at %s rejected our credentials" % server)
    assert "wrong-token" not in str(result)
    assert_untouched(apps_v1, namespace, web)


def read_server(kubeconfig):
    import yaml

    with open(kubeconfig) as handle:
        return yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]


def test_missing_kubernetes_library_is_reported_the_ansible_way(tmp_path, kubeconfig, apps_v1, namespace, web):
    """A Python without the kubernetes client (the system one here) gets missing_required_lib's message."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None or subprocess.run([python, "-c", "import kubernetes"], capture_output=True).returncode == 0:
        pytest.skip("needs a Python without the kubernetes package")
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}}, interpreter=python)
    assert result["failed"] is True
    assert "Failed to import the required Python library (kubernetes)" in result["msg"]
    assert_untouched(apps_v1, namespace, web)
