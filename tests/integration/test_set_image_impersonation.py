"""Issue 11, case 2: a kubeconfig user that impersonates (as, as-groups, as-uid, as-user-extra) acts as the
impersonated identity - as kubectl does - never as the base identity (the test cluster's admin)."""

import json

import pytest
import yaml

from collection_module_utils import client_of_kubeconfig, import_module_utils
from test_set_image_connection import exec_plugin_kubeconfig
from test_set_image_rbac import apply, documented_role
from test_set_image_support import APP, create, deployment, images, kubectl, read, run_module

pytestmark = pytest.mark.integration


def impersonating_kubeconfig(kubeconfig, tmp_path, name="impersonating", base=None, **impersonation):
    """The test cluster's admin kubeconfig (or `base`) with impersonation added to its user."""
    config = yaml.safe_load(open(base or kubeconfig))
    config["users"][0]["user"].update(impersonation)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def assert_untouched(apps_v1, namespace, before):
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert images(after) == images(before)


def test_impersonating_an_identity_without_rights_is_forbidden_like_kubectl(tmp_path, kubeconfig, apps_v1, namespace):
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))
    nobody = "system:serviceaccount:%s:nobody" % namespace
    path = impersonating_kubeconfig(kubeconfig, tmp_path, **{"as": nobody})

    refused = kubectl(path, "-n", namespace, "get", "deployment", "web", check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr

    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": path})
    assert result["failed"] is True and result["changed"] is False
    assert "403 Forbidden: %s may not get deployments" % nobody in result["msg"]
    assert_untouched(apps_v1, namespace, before)

    result, _ = run_module(tmp_path, kubeconfig, "rollout_status", {
        "name": "web", "namespace": namespace, "kubeconfig": path})
    assert result["failed"] is True and "403 Forbidden: %s may not get deployments" % nobody in result["msg"]


def test_impersonation_is_kept_when_a_credential_plugin_authenticates(tmp_path, kubeconfig, apps_v1, namespace):
    """The kubernetes client's loader (exec plugins) ignores `as`; the module must not."""
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))
    nobody = "system:serviceaccount:%s:nobody" % namespace
    path = impersonating_kubeconfig(kubeconfig, tmp_path, base=exec_plugin_kubeconfig(tmp_path, kubeconfig),
                                    **{"as": nobody})
    assert kubectl(path, "-n", namespace, "get", "deployment", "web", check=False).returncode != 0
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": path})
    assert result["failed"] is True and "403 Forbidden: %s may not get deployments" % nobody in result["msg"]
    assert_untouched(apps_v1, namespace, before)


def test_impersonated_groups_grant_what_they_are_bound_to(tmp_path, kubeconfig, apps_v1, namespace):
    """The documented Role bound to a group: with as-groups the impersonated user may roll out, without
    it not - for kubectl and the module alike."""
    role, binding = documented_role(namespace)
    binding["subjects"] = [{"kind": "Group", "name": "deployers", "apiGroup": "rbac.authorization.k8s.io"}]
    apply(kubeconfig, [role, binding], tmp_path, "role.yml")
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))

    alone = impersonating_kubeconfig(kubeconfig, tmp_path, "alone", **{"as": "ann"})
    assert kubectl(alone, "-n", namespace, "get", "deployment", "web", check=False).returncode != 0
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": alone})
    assert result["failed"] is True and '403 Forbidden: ann may not get deployments' in result["msg"]
    assert_untouched(apps_v1, namespace, before)

    in_group = impersonating_kubeconfig(kubeconfig, tmp_path, "in-group", **{"as": "ann", "as-groups": ["deployers"]})
    assert kubectl(in_group, "-n", namespace, "get", "deployment", "web").returncode == 0
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": in_group})
    assert result["targets"][0]["status"] == "complete", result
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}


def test_the_api_server_sees_the_same_identity_as_for_kubectl(tmp_path, kubeconfig):
    """SelfSubjectReview (`kubectl auth whoami`) through the module's client and through kubectl, for a
    user with every impersonation field: the API server must see the same user, uid, groups and extra."""
    (k8s_errors,) = import_module_utils("_k8s.errors")
    path = impersonating_kubeconfig(kubeconfig, tmp_path, **{
        "as": "ann", "as-uid": "ann-uid-42", "as-groups": ["deployers", "auditors"],
        "as-user-extra": {"reason": ["release 2", "issue 11"], "example.org/team": ["blue"]}})
    theirs = json.loads(kubectl(path, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]

    client = client_of_kubeconfig(path)
    review = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                            k8s_errors.Action("create", "selfsubjectreviews", "authentication.k8s.io"),
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    ours = review["status"]["userInfo"]

    assert ours == theirs
    assert ours["username"] == "ann" and ours["uid"] == "ann-uid-42"
    assert {"deployers", "auditors"} <= set(ours["groups"])
    assert ours["extra"]["reason"] == ["release 2", "issue 11"]
    assert ours["extra"]["example.org/team"] == ["blue"]
