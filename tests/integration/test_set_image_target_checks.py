"""Issue 11, case 1: targets that select by nothing, and names that are no names, are refused before
any request; nothing in the namespace changes."""

import pytest
import yaml

from test_set_image_support import APP, create, deployment, images, read, run_module

pytestmark = pytest.mark.integration

IMAGE = APP + ":evil"


@pytest.fixture()
def workloads(kubeconfig, apps_v1, namespace):
    """Two Deployments: what an empty selector would have patched, both."""
    return [create(apps_v1, kubeconfig, namespace, deployment(name, labels={"tier": "front"})) for name in ("web", "api")]


def assert_untouched(apps_v1, namespace, before):
    for obj in before:
        after = read(apps_v1, namespace, "Deployment", obj["metadata"]["name"])
        assert after["metadata"]["generation"] == obj["metadata"]["generation"]
        assert images(after) == images(obj)


@pytest.mark.parametrize("targets,problem", [
    ({"label_selectors": [""]}, "label selector '' is empty: it would select every workload"),
    ({"label_selectors": ["  "]}, "label selector '  ' is empty"),
    ({"label_selectors": ["tier=front", ""]}, "label selector '' is empty"),
    ({"label_selectors": ["tier=front,"]}, "label selector 'tier=front,' has an empty requirement"),
    ({"label_selectors": []}, "label_selectors is an empty list: it would select every workload"),
    ({"name": []}, "name is an empty list"),
    ({"name": ["web", ""]}, "name must be a non-empty string, got ''"),
], ids=["empty", "blank", "one-of-two-empty", "stray-comma", "empty-list", "no-names", "empty-name"])
@pytest.mark.parametrize("module", ["set_image", "rollout_status"])
def test_selecting_by_nothing_is_refused_and_changes_nothing(tmp_path, kubeconfig, apps_v1, namespace, workloads,
                                                            targets, problem, module):
    args = dict(targets, namespace=namespace)
    if module == "set_image":
        args["containers"] = {"*": IMAGE}
    result, _ = run_module(tmp_path, kubeconfig, module, args)
    assert result["failed"] is True and result["changed"] is False
    assert problem in result["msg"], result["msg"]
    assert "targets" not in result    # refused before anything was read
    assert_untouched(apps_v1, namespace, workloads)


@pytest.mark.parametrize("name", ["../../api/v1/namespaces/default/pods", "web?dryRun=All", "Web", "web/status"])
def test_names_that_would_change_the_url_are_refused(tmp_path, kubeconfig, apps_v1, namespace, workloads, name):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": name, "namespace": namespace, "containers": {"web": IMAGE}})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "nothing was changed: name %r is not a valid object name (lowercase letters, digits, " \
                            "'-' and '.', starting and ending with a letter or digit, at most 253 characters)" % name
    assert_untouched(apps_v1, namespace, workloads)


def test_a_namespace_that_is_no_name_is_refused(tmp_path, kubeconfig, apps_v1, namespace, workloads):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "namespace": namespace + "/deployments/web?x=", "containers": {"web": IMAGE}})
    assert result["failed"] is True and result["changed"] is False
    assert "is not a valid namespace name" in result["msg"]
    assert_untouched(apps_v1, namespace, workloads)


def test_the_kubeconfig_contexts_namespace_is_checked_too(tmp_path, kubeconfig, apps_v1, namespace, workloads):
    config = yaml.safe_load(open(kubeconfig))
    config["contexts"][0]["context"]["namespace"] = namespace + "/deployments"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "name": "web", "containers": {"web": IMAGE}, "kubeconfig": str(path)})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "nothing was changed: namespace %r is not a valid namespace name (lowercase letters, " \
                            "digits and '-', starting and ending with a letter or digit, at most 63 characters)" % (
                                namespace + "/deployments")
    assert_untouched(apps_v1, namespace, workloads)


def test_a_real_selector_still_works(tmp_path, kubeconfig, apps_v1, namespace, workloads):
    result, _ = run_module(tmp_path, kubeconfig, "set_image", {
        "label_selectors": ["tier=front"], "namespace": namespace, "containers": {"web": APP + ":2"}})
    assert [(t["name"], t["status"]) for t in result["targets"]] == [("api", "complete"), ("web", "complete")]
