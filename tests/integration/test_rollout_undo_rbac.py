"""The documented rollout_undo Role (docs/rbac/rollout_undo-role.yml) is enough for rollout_history and rollout_undo,
and rollout_preflight with rules_for: rollout_undo asks exactly for it: with one verb taken away it names that verb,
as `kubectl auth can-i` answers, before anything is changed - also the StatefulSet's controllerrevisions, which
set_image's questions (still the default) leave out."""

import pytest
import yaml

from test_access_review import kubectl_says
from test_set_image_rbac import apply, connection, token_for
from test_set_image_support import APP, create, kubectl, read, repo_path, run_module, statefulset

pytestmark = pytest.mark.integration

NO_KUBECONFIG = {"K8S_AUTH_KUBECONFIG": ""}


def undo_role(namespace, without=None):
    """The documented Role bound to ServiceAccount deployer; without=(resource, verb) takes one verb away."""
    role = yaml.safe_load(repo_path("docs", "rbac", "rollout_undo-role.yml").read_text().replace("NAMESPACE", namespace))
    if without:
        resource, verb = without
        for rule in role["rules"]:
            if resource in rule["resources"]:
                rule["resources"] = [r for r in rule["resources"] if r != resource]
                role["rules"].append(dict(rule, resources=[resource], verbs=[v for v in rule["verbs"] if v != verb]))
                break
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "kubedev-rollout-undo", "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]}
    return [role, binding]


@pytest.fixture()
def db(apps_v1, kubeconfig, namespace):
    create(apps_v1, kubeconfig, namespace, statefulset("db", replicas=1))
    kubectl(kubeconfig, "-n", namespace, "set", "image", "statefulset/db", "db=%s:2" % APP)
    kubectl(kubeconfig, "-n", namespace, "rollout", "status", "statefulset/db", "--timeout", "90s")


def test_the_documented_role_is_enough(tmp_path, kubeconfig, apps_v1, core_v1, namespace, db):
    apply(kubeconfig, undo_role(namespace), tmp_path, "role.yml")
    conn = connection(kubeconfig, tmp_path, token_for(core_v1, namespace, "deployer"))
    args = dict(conn, kind="StatefulSet", name="db", namespace=namespace)
    preflight, _ = run_module(tmp_path, kubeconfig, "rollout_preflight", dict(args, name="db", rules_for="rollout_undo"),
                              env=NO_KUBECONFIG)
    assert preflight["denied"] == [] and preflight["found"] is True
    assert "list controllerrevisions.apps" in preflight["allowed"]
    history, _ = run_module(tmp_path, kubeconfig, "rollout_history", args, env=NO_KUBECONFIG)
    assert [r["revision"] for r in history["revisions"]] == [1, 2]
    result, _ = run_module(tmp_path, kubeconfig, "rollout_undo", args, env=NO_KUBECONFIG)
    assert result["changed"] and result["targets"][0]["status"] == "complete", result
    assert read(apps_v1, namespace, "StatefulSet", "db")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        APP + ":1"


def test_preflight_names_the_missing_verb_as_kubectl_answers(tmp_path, kubeconfig, apps_v1, core_v1, namespace, db):
    apply(kubeconfig, undo_role(namespace, without=("controllerrevisions", "list")), tmp_path, "role.yml")
    conn = connection(kubeconfig, tmp_path, token_for(core_v1, namespace, "deployer"))
    args = dict(conn, kind="StatefulSet", name="db", namespace=namespace)
    preflight, _ = run_module(tmp_path, kubeconfig, "rollout_preflight", dict(args, rules_for="rollout_undo"),
                              env=NO_KUBECONFIG)
    assert preflight["denied"] == ["list controllerrevisions.apps"], preflight
    assert kubectl_says(kubeconfig, conn, namespace, "list", "apps", "controllerrevisions", "", False) is False
    # set_image's questions, still the default, do not ask about a StatefulSet's controllerrevisions
    default, _ = run_module(tmp_path, kubeconfig, "rollout_preflight", args, env=NO_KUBECONFIG)
    assert default["denied"] == [] and not any("controllerrevisions" in p for p in default["allowed"])
    # and the undo itself fails before writing, naming the verb
    before = read(apps_v1, namespace, "StatefulSet", "db")
    result, _ = run_module(tmp_path, kubeconfig, "rollout_undo", args, env=NO_KUBECONFIG)
    assert result["failed"] and not result["changed"]
    assert "may not list controllerrevisions" in result["msg"], result["msg"]
    assert read(apps_v1, namespace, "StatefulSet", "db")["metadata"]["generation"] == before["metadata"]["generation"]
