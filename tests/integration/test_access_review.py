"""access_review answers as `kubectl auth can-i` does, question by question, for an identity with a narrow Role,
and it fails (rather than answering "no") when the question cannot be asked."""

import pytest

from test_set_image_rbac import apply, connection, documented_role, token_for
from test_set_image_support import kubectl, run_module

pytestmark = pytest.mark.integration

# (verb, group, resource, subresource, cluster-scoped): allowed and denied by the documented set_image Role.
QUESTIONS = [
    ("patch", "apps", "deployments", "", False),
    ("get", "apps", "deployments", "", False),
    ("watch", "apps", "replicasets", "", False),
    ("list", "", "pods", "", False),
    ("delete", "apps", "deployments", "", False),
    ("create", "", "pods", "", False),
    ("get", "", "pods", "log", False),
    ("update", "apps", "deployments", "scale", False),
    ("get", "", "secrets", "", False),
    ("create", "", "namespaces", "", True),
    ("list", "", "nodes", "", True),
]


def permission(verb, group, resource, subresource):
    return f"{verb} {resource}{'.' + group if group else ''}{'/' + subresource if subresource else ''}"


def kubectl_says(kubeconfig, conn, namespace, verb, group, resource, subresource, cluster_scoped):
    target = resource + ("." + group if group else "")
    args = ["auth", "can-i", verb, target, "--server", conn["host"], "--token", conn["api_key"],
            "--certificate-authority", conn["ca_cert"], "--kubeconfig", "/dev/null"]
    args += ["--subresource", subresource] if subresource else []
    args += [] if cluster_scoped else ["-n", namespace]
    proc = kubectl(kubeconfig, *args, check=False)
    assert proc.returncode in (0, 1), proc.stderr   # 0 yes, 1 no; anything else is an error
    return proc.returncode == 0


def test_answers_as_kubectl_auth_can_i(tmp_path, kubeconfig, core_v1, namespace):
    apply(kubeconfig, documented_role(namespace), tmp_path, "role.yml")   # binds ServiceAccount "deployer"
    conn = connection(kubeconfig, tmp_path, token_for(core_v1, namespace, "deployer"))
    rules = [{"verbs": [verb], "group": group, "resource": resource, "subresource": subresource,
              "cluster_scoped": cluster_scoped} for verb, group, resource, subresource, cluster_scoped in QUESTIONS]

    result, _ = run_module(tmp_path, kubeconfig, "access_review", dict(conn, namespace=namespace, rules=rules),
                           env={"K8S_AUTH_KUBECONFIG": ""})

    assert result["changed"] is False
    expected = {permission(*question[:4]): kubectl_says(kubeconfig, conn, namespace, *question) for question in QUESTIONS}
    assert {review["permission"]: review["allowed"] for review in result["reviews"]} == expected
    # The Role really is narrow, so both verdicts occur; and the lists agree with the reviews.
    assert set(expected.values()) == {True, False}
    assert result["allowed"] == [name for name, allowed in expected.items() if allowed]
    assert result["denied"] == [name for name, allowed in expected.items() if not allowed]
    assert conn["api_key"] not in str(result)


def test_check_mode_asks_too(tmp_path, kubeconfig, namespace):
    rules = [{"resource": "pods", "verbs": ["list", "watch"]}]
    result, _ = run_module(tmp_path, kubeconfig, "access_review", dict(namespace=namespace, rules=rules), flags=("--check",))
    assert result["allowed"] == ["list pods", "watch pods"] and result["denied"] == []   # the test cluster's admin


def test_unreachable_cluster_fails_instead_of_answering(tmp_path, kubeconfig, namespace):
    rules = [{"resource": "pods", "verbs": ["list"]}]
    result, _ = run_module(tmp_path, kubeconfig, "access_review",
                           dict(host="https://127.0.0.1:9", validate_certs=False, api_key="x", namespace=namespace,
                                rules=rules), env={"K8S_AUTH_KUBECONFIG": ""})
    assert result["failed"] and "127.0.0.1:9" in result["msg"] and "denied" not in result, result


def test_bad_rules_are_refused_before_connecting(tmp_path, kubeconfig):
    result, _ = run_module(tmp_path, kubeconfig, "access_review",
                           dict(namespace="Not_A_Namespace", host="https://127.0.0.1:9",
                                rules=[{"resource": "pods", "verbs": [" "]}]), env={"K8S_AUTH_KUBECONFIG": ""})
    assert result["failed"]
    assert "rules[0].verbs is empty" in result["msg"] and "Not_A_Namespace" in result["msg"], result
    assert "127.0.0.1:9" not in result["msg"]
