"""Several targets change together or not at all: a patch refused for one target (RBAC, admission)
changes none - every patch is dry-run on the server first; a write refused after its dry run passed
puts the targets already written back, and says so."""

import uuid

import pytest

from conftest import wait_for
from test_set_image_rbac import apply, connection, token_for
from test_set_image_support import APP, create, deployment, images, kubectl, read, rollout_done, run_module

pytestmark = pytest.mark.integration


def untouched(apps_v1, namespace, before):
    after = read(apps_v1, namespace, "Deployment", before["metadata"]["name"])
    return after["metadata"]["generation"] == before["metadata"]["generation"] and images(after) == images(before)


def test_patch_forbidden_for_one_target_changes_none(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    """RBAC allows patching `a` but not `b` (resourceNames): before, `a` was patched and then `b` failed."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "patch-a", "namespace": namespace},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "replicasets"],
                       "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["a"], "verbs": ["patch"]},
                      {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "patch-a", "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "patch-a"},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]}
    apply(kubeconfig, [role, binding], tmp_path, "patch-a.yml")
    token = token_for(core_v1, namespace, "deployer")
    before = [create(apps_v1, kubeconfig, namespace, deployment(name)) for name in ("a", "b")]

    result, _ = run_module(tmp_path, kubeconfig, "set_image", dict(
        connection(kubeconfig, tmp_path, token), name=["a", "b"], namespace=namespace,
        containers={"web": APP + ":2"}), env={"K8S_AUTH_KUBECONFIG": ""})

    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("nothing was changed: the server-side dry run refused Deployment %s/b: "
                                    "403 Forbidden" % namespace), result["msg"]
    assert [t["reason"] for t in result["targets"]] == [None, "PatchFailed"]
    assert all(untouched(apps_v1, namespace, obj) for obj in before)


POLICY_EXPRESSION = "request.dryRun == true || object.metadata.name != 'b'"


@pytest.fixture()
def refuse_real_writes_of_b(kubeconfig, tmp_path, namespace):
    """A ValidatingAdmissionPolicy refusing every update of Deployment `b` in this namespace except dry runs:
    an admission that decides differently for the write than for its dry run."""
    name = "kubedev-test-refuse-b-" + uuid.uuid4().hex[:6]
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
              "metadata": {"name": name},
              "spec": {"failurePolicy": "Fail",
                       "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                               "operations": ["UPDATE"], "resources": ["deployments"]}]},
                       "validations": [{"expression": POLICY_EXPRESSION, "message": "b is frozen (test policy)"}]}}
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
               "metadata": {"name": name},
               "spec": {"policyName": name, "validationActions": ["Deny"],
                        "matchResources": {"namespaceSelector": {"matchLabels": {
                            "kubernetes.io/metadata.name": namespace}}}}}
    apply(kubeconfig, [policy, binding], tmp_path, "policy.yml")
    yield name
    kubectl(kubeconfig, "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, check=False)


def test_write_refused_after_its_dry_run_passed_restores_the_others(tmp_path, kubeconfig, apps_v1, namespace,
                                                                     refuse_real_writes_of_b):
    a, b = [create(apps_v1, kubeconfig, namespace, deployment(name)) for name in ("a", "b")]
    # the policy is in force once a real write of b is refused (the API server loads it asynchronously)
    wait_for("the policy to refuse writes of b", lambda: "b is frozen" in kubectl(
        kubeconfig, "-n", namespace, "annotate", "--overwrite", "deployment/b", "probe=1", check=False).stderr,
        timeout=60)
    b = read(apps_v1, namespace, "Deployment", "b")

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": ["a", "b"], "namespace": namespace, "containers": {"web": APP + ":2"}, "wait_timeout": 120})

    assert result["failed"] is True
    assert "Deployment %s/b: patch failed: " % namespace in result["msg"]
    assert "b is frozen (test policy)" in result["msg"]
    assert ("Restored the previous images of Deployment %s/a, which this task had already written (rollout complete)"
            % namespace) in result["msg"]
    assert result["rolled_back"] is True
    target_a, target_b = result["targets"]
    assert target_a["changed"] is True and target_a["rolled_back"] is True
    assert target_a["rollback"]["images"] == {"web": APP + ":1"} and target_a["rollback"]["status"] == "complete"
    assert target_b["reason"] == "PatchFailed" and target_b["changed"] is False

    assert images(read(apps_v1, namespace, "Deployment", "a")) == {"web": APP + ":1"}
    rollout_done(kubeconfig, namespace, "Deployment", "a", timeout="1s")   # nothing half rolled out
    assert untouched(apps_v1, namespace, b)
