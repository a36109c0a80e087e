"""The oracle for the collection's own kubeconfig reader (_k8s/kubeconfig.py): kubectl and the module read the
same kubeconfig against the real API server, and they agree on whether it can be used and on who it makes the
caller. Two service accounts tell the identities apart: only `reader` may get deployments in the namespace.

kubectl answers `auth can-i get deployments` with yes or no (the identity) or fails (the kubeconfig is
refused, or the request cannot be made); the module answers the same question with access_review."""

import base64
import json

import pytest
import yaml

from test_set_image_connection import proxy  # noqa: F401  (the CONNECT proxy fixture)
from test_set_image_rbac import apply, token_for
from test_set_image_support import json_env, run_playbook, task_playbook

pytestmark = pytest.mark.integration

READER, OTHER = "reader", "other"


@pytest.fixture()
def identities(kubeconfig, core_v1, namespace, tmp_path):
    """Tokens of two service accounts; only READER may get deployments here."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "get-deployments", "namespace": namespace},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
                      {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"],
                       "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "get-deployments", "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "get-deployments"},
               "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": namespace}]}
    apply(kubeconfig, [role, binding], tmp_path, "reader.yml")
    return {READER: token_for(core_v1, namespace, READER), OTHER: token_for(core_v1, namespace, OTHER)}


def kubeconfig_with(kubeconfig, tmp_path, user, cluster_extra=None, name="case", extra_docs=None):
    config = yaml.safe_load(open(kubeconfig))
    config["users"][0]["user"] = user
    config["clusters"][0]["cluster"].update(cluster_extra or {})
    for key, entries in (extra_docs or {}).items():
        config[key] = config[key] + entries
    path = tmp_path / ("kubeconfig-" + name)
    path.write_text(yaml.safe_dump(config))
    return str(path)


def kubectl_says(path, namespace, env=None):
    """'yes' or 'no' for `kubectl auth can-i get deployments`, or 'error'."""
    import os
    import subprocess

    from test_set_image_support import kubectl_path

    proc = subprocess.run([kubectl_path(), "--kubeconfig", path, "-n", namespace, "auth", "can-i", "get",
                           "deployments.apps", "--request-timeout", "10s"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **(env or {})))
    answer = proc.stdout.strip()
    return answer if answer in ("yes", "no") else "error"


def module_says(tmp_path, path, namespace, env=None):
    """The same question through kubedev.devloop.access_review: 'yes', 'no', or 'error' (with its message)."""
    playbook = task_playbook(tmp_path, "kubedev.devloop.access_review", {
        "kubeconfig": path, "namespace": namespace,
        "rules": [{"verbs": ["get"], "resource": "deployments", "group": "apps"}]})
    proc = run_playbook(playbook, check=False, env=json_env(path, env))
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if result.get("failed"):
        return "error", result["msg"]
    return ("yes" if result["allowed"] else "no"), None


def agree(tmp_path, path, namespace, env=None):
    oracle = kubectl_says(path, namespace, env)
    ours, message = module_says(tmp_path, path, namespace, env)
    assert ours == oracle, "kubectl: %s, module: %s (%s)" % (oracle, ours, message)
    return ours, message


def test_a_token_reads_as_kubectl_reads_it(tmp_path, kubeconfig, namespace, identities):
    assert agree(tmp_path, kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER]}), namespace)[0] == "yes"
    assert agree(tmp_path, kubeconfig_with(kubeconfig, tmp_path, {"token": identities[OTHER]}), namespace)[0] == "no"


def test_token_file_wins_over_token_while_it_can_be_read(tmp_path, kubeconfig, namespace, identities):
    token_file = tmp_path / "token"
    token_file.write_text(identities[OTHER] + "\n")
    both = kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER], "tokenFile": str(token_file)})
    assert agree(tmp_path, both, namespace)[0] == "no"         # the file's identity
    token_file.unlink()
    assert agree(tmp_path, both, namespace)[0] == "yes"        # the token, as the file is gone
    alone = kubeconfig_with(kubeconfig, tmp_path, {"tokenFile": str(token_file)}, name="alone")
    assert agree(tmp_path, alone, namespace)[0] == "error"


def test_a_token_with_a_line_break_is_refused_by_both(tmp_path, kubeconfig, namespace, identities):
    ours, message = agree(tmp_path, kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER] + "\n"}),
                          namespace)
    assert ours == "error" and "token contains a control character" in message
    assert identities[READER] not in message


def test_insecure_skip_tls_verify_with_a_ca_is_refused_by_both(tmp_path, kubeconfig, namespace, identities):
    path = kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER]}, {"insecure-skip-tls-verify": True})
    ours, message = agree(tmp_path, path, namespace)
    assert ours == "error" and "insecure-skip-tls-verify and a certificate authority" in message
    config = yaml.safe_load(open(path))
    del config["clusters"][0]["cluster"]["certificate-authority-data"]
    (tmp_path / "insecure-only").write_text(yaml.safe_dump(config))
    assert agree(tmp_path, str(tmp_path / "insecure-only"), namespace)[0] == "yes"


def test_a_name_twice_in_one_file_is_refused_by_both(tmp_path, kubeconfig, namespace, identities):
    config = yaml.safe_load(open(kubeconfig))
    user_name = config["users"][0]["name"]
    path = kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER]},
                           extra_docs={"users": [{"name": user_name, "user": {"token": identities[OTHER]}}]})
    ours, message = agree(tmp_path, path, namespace)
    assert ours == "error" and 'users names "%s" twice' % user_name in message
    assert identities[OTHER] not in message and identities[READER] not in message


def test_a_failing_exec_plugin_is_an_error_for_both_not_an_anonymous_request(tmp_path, kubeconfig, namespace,
                                                                           identities):
    plugin = tmp_path / "failing-plugin"
    plugin.write_text("#!/bin/sh\necho 'no credentials for you' >&2\nexit 3\n")
    plugin.chmod(0o755)
    path = kubeconfig_with(kubeconfig, tmp_path, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}})
    ours, message = agree(tmp_path, path, namespace)
    assert ours == "error" and "credential plugin gave no credentials" in message, message


def test_proxy_url_is_used_whatever_no_proxy_says(tmp_path, kubeconfig, namespace, identities, proxy):  # noqa: F811
    """kubectl sends every request through the kubeconfig's proxy-url, NO_PROXY or not; so must the module."""
    url = "http://127.0.0.1:%d" % proxy.server_address[1]
    path = kubeconfig_with(kubeconfig, tmp_path, {"token": identities[READER]}, {"proxy-url": url})
    env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    assert kubectl_says(path, namespace, env) == "yes"
    through_kubectl = len(proxy.tunnels)
    assert through_kubectl > 0, "kubectl did not use proxy-url"
    assert module_says(tmp_path, path, namespace, env)[0] == "yes"
    assert len(proxy.tunnels) > through_kubectl, "the module bypassed proxy-url because of NO_PROXY"


def test_basic_auth_and_client_certificates_agree(tmp_path, kubeconfig, namespace, identities):
    """The admin's certificate (from the test kubeconfig) may; data fields and files alike."""
    config = yaml.safe_load(open(kubeconfig))
    user = config["users"][0]["user"]
    (tmp_path / "admin.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
    (tmp_path / "admin.key").write_bytes(base64.b64decode(user["client-key-data"]))
    files = kubeconfig_with(kubeconfig, tmp_path, {"client-certificate": "admin.crt", "client-key": "admin.key"},
                            name="files")
    assert agree(tmp_path, kubeconfig, namespace)[0] == "yes"
    assert agree(tmp_path, files, namespace)[0] == "yes"
