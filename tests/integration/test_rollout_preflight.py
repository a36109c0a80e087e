"""rollout_preflight answers what kubectl answers on the same objects - the workload and its containers as
`kubectl get` reads them, each permission as `kubectl auth can-i` - for identities with narrow Roles, and it fails
(rather than answering) only when the cluster cannot be asked."""

import json

import pytest
import yaml

from test_access_review import kubectl_says
from test_set_image_rbac import apply, connection, documented_role, token_for
from test_set_image_support import APP, create, daemonset, deployment, kubectl, run_module

pytestmark = pytest.mark.integration

NO_KUBECONFIG = {"K8S_AUTH_KUBECONFIG": ""}


def narrowed_role(namespace, resource, verb):
    """The documented set_image Role (bound to ServiceAccount deployer) without one verb on one resource."""
    role, binding = documented_role(namespace)
    for rule in role["rules"]:
        if resource in rule["resources"]:
            rule["resources"] = [r for r in rule["resources"] if r != resource]
            role["rules"].append(dict(rule, resources=[resource], verbs=[v for v in rule["verbs"] if v != verb]))
            break
    return [role, binding]


def as_deployer(tmp_path, kubeconfig, core_v1, namespace, documents):
    apply(kubeconfig, documents, tmp_path, "role.yml")
    return connection(kubeconfig, tmp_path, token_for(core_v1, namespace, "deployer"))


def kubectl_images(kubeconfig, namespace, kind, name):
    """Container name -> image as kubectl reads the workload; None when kubectl finds no such object."""
    proc = kubectl(kubeconfig, "-n", namespace, "get", kind.lower(), name, "-o", "json", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return None
    spec = json.loads(proc.stdout)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


def assert_permissions_as_kubectl(kubeconfig, conn, namespace, result):
    for review in result["reviews"]:
        verdict = kubectl_says(kubeconfig, conn, namespace, review["verb"], review["group"], review["resource"], "", False)
        assert review["allowed"] == verdict, review
    assert result["denied"] == [r["permission"] for r in result["reviews"] if not r["allowed"]]


def test_a_deployment_as_kubectl_sees_it_with_one_verb_missing(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    conn = as_deployer(tmp_path, kubeconfig, core_v1, namespace, narrowed_role(namespace, "deployments", "patch"))
    create(apps_v1, kubeconfig, namespace, deployment(
        "web", init_containers=[{"name": "setup", "image": APP + ":1"}],
        containers=[{"name": "web", "image": APP + ":1"}, {"name": "sidecar", "image": APP + ":2"}]))

    result, _ = run_module(tmp_path, kubeconfig, "rollout_preflight",
                           dict(conn, name="web", namespace=namespace, containers=["web", "setup", "app"]),
                           env=NO_KUBECONFIG)

    assert result["changed"] is False
    assert result["found"] is True
    assert result["images"] == kubectl_images(kubeconfig, namespace, "Deployment", "web")
    assert result["missing_containers"] == ["app"]
    assert_permissions_as_kubectl(kubeconfig, conn, namespace, result)
    assert result["denied"] == ["patch deployments.apps"]
    # The default questions are the documented Role's for a Deployment: every other one is allowed.
    assert {r["resource"] for r in result["reviews"]} == {"deployments", "replicasets", "pods"}
    assert len(result["allowed"]) == len(result["reviews"]) - 1
    assert conn["api_key"] not in str(result)


def test_the_documented_role_allows_everything_a_daemonset_needs(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    conn = as_deployer(tmp_path, kubeconfig, core_v1, namespace, documented_role(namespace))
    create(apps_v1, kubeconfig, namespace, daemonset("agent"), wait=False)

    result, _ = run_module(tmp_path, kubeconfig, "rollout_preflight",
                           dict(conn, kind="DaemonSet", name="agent", namespace=namespace, containers=["agent"]),
                           env=NO_KUBECONFIG)

    assert result["found"] is True and result["missing_containers"] == []
    assert result["images"] == kubectl_images(kubeconfig, namespace, "DaemonSet", "agent")
    assert result["denied"] == []
    assert "watch controllerrevisions.apps" in result["allowed"] and "patch daemonsets.apps" in result["allowed"]
    assert_permissions_as_kubectl(kubeconfig, conn, namespace, result)


def test_a_missing_deployment_is_not_found_as_kubectl_says(tmp_path, kubeconfig, namespace):
    result, _ = run_module(tmp_path, kubeconfig, "rollout_preflight",
                           dict(name="no-such-deployment", namespace=namespace, containers=["web"]))

    assert kubectl_images(kubeconfig, namespace, "Deployment", "no-such-deployment") is None
    assert result["found"] is False
    assert result["images"] == {} and result["missing_containers"] == []
    assert result["denied"] == []


def test_a_workload_it_may_not_read_is_neither_found_nor_missing(tmp_path, kubeconfig, apps_v1, core_v1, namespace):
    conn = as_deployer(tmp_path, kubeconfig, core_v1, namespace, narrowed_role(namespace, "deployments", "get"))
    create(apps_v1, kubeconfig, namespace, deployment("web"))

    result, _ = run_module(tmp_path, kubeconfig, "rollout_preflight",
                           dict(conn, name="web", namespace=namespace, containers=["web"]), env=NO_KUBECONFIG)

    assert result["found"] is None   # a 403 says nothing about whether it exists
    assert result["denied"] == ["get deployments.apps"]
    assert_permissions_as_kubectl(kubeconfig, conn, namespace, result)


def test_fails_when_the_cluster_does_not_answer(tmp_path, kubeconfig, namespace):
    config = yaml.safe_load(open(kubeconfig))
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(config))

    result, _ = run_module(tmp_path, str(dead), "rollout_preflight", dict(name="web", namespace=namespace))

    assert result["failed"] is True
    assert "https://127.0.0.1:1 is unreachable: connection refused" in result["msg"]
