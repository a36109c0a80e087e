"""409 Conflict: the patch is conditional on the resourceVersion read, so a concurrent writer makes the
real API server refuse it; the module reads again, recomputes and retries."""

import pytest

from collection_module_utils import client_of_kubeconfig, import_module_utils
from test_set_image_support import APP, create, deployment, images, read

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_utils():
    return import_module_utils("_k8s.resources", "set_image_plan", "set_image_runner")


def test_concurrent_writer_causes_a_conflict_and_a_reread(kubeconfig, apps_v1, namespace, module_utils):
    resources, set_image_plan, set_image_runner = module_utils
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    client = client_of_kubeconfig(kubeconfig)
    stale = client.get(resources.DEPLOYMENTS, namespace, "web")

    # Someone else changes the image after our read.
    apps_v1.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": APP + ":other"}]}}}})

    seen = []

    def changes(obj):
        seen.append(images(obj)["web"])
        return set_image_plan.plan_images("Deployment", obj, {"web": APP + ":2"})["changes"]

    outcome = set_image_runner.patch_with_retry(client, "Deployment", stale, changes, None, False)

    assert outcome["attempts"] == 2                       # the first, stale write got 409
    assert seen == [APP + ":1", APP + ":other"]           # and the retry planned from a fresh read
    assert images(outcome["before"]) == {"web": APP + ":other"}   # "previous" is what we really replaced
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}


def test_conflict_with_a_writer_who_set_the_same_image_writes_nothing(kubeconfig, apps_v1, namespace, module_utils):
    resources, set_image_plan, set_image_runner = module_utils
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    client = client_of_kubeconfig(kubeconfig)
    stale = client.get(resources.DEPLOYMENTS, namespace, "web")
    apps_v1.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": APP + ":2"}]}}}})
    generation = read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"]

    outcome = set_image_runner.patch_with_retry(
        client, "Deployment", stale,
        lambda obj: set_image_plan.plan_images("Deployment", obj, {"web": APP + ":2"})["changes"], None, False)

    assert outcome["attempts"] == 2
    assert outcome["changes"] == {}
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"] == generation


def test_stale_precondition_is_refused_by_the_api_server(kubeconfig, apps_v1, namespace, module_utils):
    resources, set_image_plan, _runner = module_utils
    from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError

    create(apps_v1, kubeconfig, namespace, deployment("web"))
    client = client_of_kubeconfig(kubeconfig)
    stale = client.get(resources.DEPLOYMENTS, namespace, "web")
    apps_v1.patch_namespaced_deployment("web", namespace, {"metadata": {"annotations": {"touched": "yes"}}})
    body = set_image_plan.build_patch({"containers": {"web": APP + ":2"}}, stale["metadata"]["resourceVersion"])
    with pytest.raises(ApiError) as caught:
        client.patch(resources.DEPLOYMENTS, namespace, "web", body, "kubedev-test")
    assert caught.value.status == 409
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":1"}
