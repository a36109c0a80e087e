"""The watch stream under the waiter, against the real API server: list, then watch from the list's
resourceVersion; an expired resourceVersion (410 Gone) makes it list again instead of failing."""

import queue

import pytest

from collection_module_utils import client_of_kubeconfig, import_module_utils
from test_set_image_support import APP, create, deployment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_utils():
    return import_module_utils("_k8s.resources", "_k8s.errors", "_k8s.watch")


def next_event(events, wanted, seconds=30):
    while True:
        key, event, payload = events.get(timeout=seconds)
        if event in wanted:
            return event, payload


def test_list_then_watch_delivers_changes(kubeconfig, apps_v1, namespace, module_utils):
    resources, k8s_errors, watch_stream = module_utils
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    client = client_of_kubeconfig(kubeconfig)
    events = queue.Queue()
    stream = watch_stream.WatchStream(
        client, resources.DEPLOYMENTS, namespace, "web",
        lambda key, event, payload: events.put((key, event, payload)), field_selector="metadata.name=web")
    stream.start()
    try:
        event, payload = next_event(events, ("SYNC",))
        assert [obj["metadata"]["name"] for obj in payload] == ["web"]
        apps_v1.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": APP + ":2"}]}}}})
        event, payload = next_event(events, ("MODIFIED",))
        assert payload["spec"]["template"]["spec"]["containers"][0]["image"] == APP + ":2"
    finally:
        stream.stop()


def test_expired_resource_version_is_recognised(kubeconfig, apps_v1, namespace, module_utils):
    resources, k8s_errors, watch_stream = module_utils
    client = client_of_kubeconfig(kubeconfig)
    stream = watch_stream.WatchStream(
        client, resources.DEPLOYMENTS, namespace, "web", lambda *args: None)
    # resourceVersion "1" is long compacted away: the server answers 410 Gone (as an ERROR event
    # or as the HTTP status, depending on the path it takes) - both mean "list again".
    with pytest.raises((watch_stream.WatchExpired, k8s_errors.ApiError)) as caught:
        stream._watch("1")
    if isinstance(caught.value, k8s_errors.ApiError):
        assert caught.value.status == 410


def test_stream_lists_again_after_expiry_and_keeps_delivering(kubeconfig, apps_v1, namespace, module_utils):
    resources, k8s_errors, watch_stream = module_utils
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    client = client_of_kubeconfig(kubeconfig)
    events = queue.Queue()

    class StartsExpired(watch_stream.WatchStream):
        """The first watch starts from a compacted resourceVersion, as after a long disconnect."""
        expired_once = False

        def _watch(self, resource_version):
            if not self.expired_once:
                self.expired_once = True
                resource_version = "1"
            return super(StartsExpired, self)._watch(resource_version)

    stream = StartsExpired(
        client, resources.DEPLOYMENTS, namespace, "web",
        lambda key, event, payload: events.put((key, event, payload)), field_selector="metadata.name=web")
    stream.start()
    try:
        assert next_event(events, ("SYNC",))[0] == "SYNC"
        assert next_event(events, ("SYNC",))[0] == "SYNC"       # listed again after the 410
        apps_v1.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"seen": "yes"}}})
        event, payload = next_event(events, ("MODIFIED",))
        assert payload["metadata"]["labels"]["seen"] == "yes"
    finally:
        stream.stop()
