"""The documented least-privilege Role is enough, and a missing verb is named in the error."""

import base64

import pytest
import yaml

from test_set_image_support import APP, create, daemonset, deployment, images, kubectl, read, repo_path, run_module

pytestmark = pytest.mark.integration


def documented_role(namespace):
    """The Role exactly as documented, and the RoleBinding its comment describes (ServiceAccount deployer)."""
    text = repo_path("docs", "rbac", "set_image-role.yml").read_text()
    role = yaml.safe_load(text.replace("NAMESPACE", namespace))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "kubedev-set-image", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
    }
    return [role, binding]


def apply(kubeconfig, documents, tmp_path, name):
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    kubectl(kubeconfig, "apply", "-f", str(path))


def token_for(core_v1, namespace, account):
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    request = core_v1.create_namespaced_service_account_token(
        account, namespace, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"expirationSeconds": 3600}})
    return request.status.token


def connection(kubeconfig, tmp_path, token):
    """host + api_key + ca_cert: the connection options without any kubeconfig."""
    config = yaml.safe_load(open(kubeconfig))
    cluster = config["clusters"][0]["cluster"]
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    return {"host": cluster["server"], "api_key": token, "ca_cert": str(ca)}


def test_service_account_with_the_documented_role_can_roll_out(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    apply(kubeconfig, documented_role(namespace), tmp_path, "role.yml")   # binds ServiceAccount "deployer"
    token = token_for(core_v1, namespace, "deployer")
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    create(apps_v1, kubeconfig, namespace, daemonset("agent"))
    conn = connection(kubeconfig, tmp_path, token)
    no_kubeconfig = {"K8S_AUTH_KUBECONFIG": ""}

    result, _ = run_module(tmp_path, kubeconfig, "set_image", dict(
        conn, name="web", namespace=namespace, containers={"web": APP + ":2"}), env=no_kubeconfig)
    assert result["targets"][0]["status"] == "complete", result
    assert result["targets"][0]["new_replicaset"]

    result, _ = run_module(tmp_path, kubeconfig, "set_image", dict(
        conn, kind="DaemonSet", name="agent", namespace=namespace, containers={"agent": APP + ":2"}), env=no_kubeconfig)
    assert result["targets"][0]["status"] == "complete", result

    result, _ = run_module(tmp_path, kubeconfig, "set_image", dict(
        conn, name="web", namespace=namespace, containers={"web": APP + ":3"}), flags=("--check",), env=no_kubeconfig)
    assert result["changed"] is True and not result.get("failed")

    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", dict(
        conn, name="web", namespace=namespace), env=no_kubeconfig)
    assert result["targets"][0]["status"] == "complete"
    assert token not in str(result)


def test_missing_patch_permission_is_named(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    role, binding = documented_role(namespace)
    for rule in role["rules"]:
        rule["verbs"] = [verb for verb in rule["verbs"] if verb != "patch"]
    role["metadata"]["name"] = binding["roleRef"]["name"] = binding["metadata"]["name"] = "read-only"
    binding["subjects"][0]["name"] = "reader"
    apply(kubeconfig, [role, binding], tmp_path, "read-only.yml")
    token = token_for(core_v1, namespace, "reader")
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))

    result, _ = run_module(tmp_path, kubeconfig, "set_image", dict(
        connection(kubeconfig, tmp_path, token), name="web", namespace=namespace, containers={"web": APP + ":2"}),
        env={"K8S_AUTH_KUBECONFIG": ""})

    assert result["failed"] is True and result["changed"] is False
    message = result["msg"]
    assert "403 Forbidden: system:serviceaccount:%s:reader may not patch deployments (API group apps) in namespace %s" % (
        namespace, namespace) in message
    assert "Grant the verb 'patch' on resource 'deployments'" in message
    assert result["targets"][0]["reason"] == "PatchFailed"
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert images(after) == {"web": APP + ":1"}
