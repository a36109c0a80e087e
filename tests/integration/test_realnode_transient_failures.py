"""Transient versus permanent pod failures where a real kubelet pulls and starts containers (the real node
of `scripts/testenv up --node real`), each rollout judged by set_image and `kubectl rollout status`.

- A registry that is down for a few seconds while the new pods pull: the kubelet reports ErrImagePull
  (connection refused) and retries after its back-off; the rollout completes and must not fail, nor
  be rolled back.
- A tag that does not exist fails within seconds (kubectl waits for the progress deadline).
- A ConfigMap that appears a little after the rollout started: CreateContainerConfigError heals.

The registry that goes down is a private one on a free loopback port, run and stopped by this test
alone (the real node's containerd pulls plain http from any 127.0.0.1 registry): the shared
127.0.0.1:5000 that other tests and builds use is never interrupted. The image is the real node's
own pause image (built by testenv from pause.c), pushed under fresh tags; pods pull it with
imagePullPolicy Always, so every new pod asks the registry.
"""

import glob
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import free_port, wait_for
from rollout_race import COMPLETE, FAILED, race
from test_set_image_support import create, deployment, images, read

pytestmark = [pytest.mark.integration, pytest.mark.realnode]

NODE_KEY = "kubedev.io/real-node"
ON_REAL_NODE = {"nodeSelector": {NODE_KEY: "true"},
                "tolerations": [{"key": NODE_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]}
DONE_WITHIN = 240
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# where scripts/testenv caches what it builds (its CACHE), the pause image archive among them
CACHE_DIR = os.environ.get("KUBEDEV_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kubedev")


CRICTL_CONFIG = pathlib.Path(os.environ.get("KUBEDEV_TESTENV_STATE", pathlib.Path(__file__).parents[2] / ".testenv")) \
    / "realnode" / "crictl.yaml"


@pytest.fixture(autouse=True)
def node_forgets_test_images():
    """Remove the names this module's pods pulled from the real node's containerd afterwards. They all name
    the node's own pause image, and the kubelet reports at most five names per image in the Node's status:
    left behind, they would push registry.k8s.io/pause out of it. Names only (ctr images rm): crictl rmi
    would delete the image itself, the node's pause image with it."""
    yield
    if not CRICTL_CONFIG.is_file():
        return
    socket_path = re.search(r"runtime-endpoint:\s*unix://(\S+)", CRICTL_CONFIG.read_text()).group(1)
    ctr = ["ctr", "--address", socket_path, "--namespace", "k8s.io", "images"]
    names = subprocess.run([*ctr, "ls", "--quiet"], capture_output=True, text=True, check=True).stdout.split()
    test_names = [name for name in names if "/kubedev-test/" in name]
    if test_names:
        subprocess.run([*ctr, "rm", *test_names], capture_output=True, text=True, check=True)


class PrivateRegistry(object):
    """Debian's docker-registry on a free loopback port with its own storage; start() / stop() at will."""

    def __init__(self, directory):
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.config = directory / "registry.yml"
        self.log = directory / "registry.log"
        (directory / "data").mkdir()
        self.config.write_text("version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: %s}}\n"
                               "http: {addr: %s}\n" % (directory / "data", self.host))
        self.proc = None
        self.stopped_at = self.started_at = None

    def answers(self):
        try:
            with OPENER.open("http://%s/v2/" % self.host, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for("the private registry on " + self.host, self.answers, timeout=30)
        self.started_at = time.monotonic()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None
        wait_for("the private registry to stop answering", lambda: not self.answers(), timeout=30)
        self.stopped_at = time.monotonic()


@pytest.fixture()
def private_registry(tmp_path):
    if not os.access("/usr/bin/docker-registry", os.X_OK):
        pytest.fail("/usr/bin/docker-registry missing: run `scripts/testenv up`")
    registry = PrivateRegistry(tmp_path)
    registry.start()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def pause_image(docker_client):
    """The real node's pause image in the local dockerd: (image, its tags to push under)."""
    archives = sorted(glob.glob(str(pathlib.Path(CACHE_DIR) / "pause-*.tar")))
    if not archives:
        pytest.fail("no pause image archive in %s: run `scripts/testenv up --node real`" % CACHE_DIR)
    with open(archives[-1], "rb") as archive:
        (image,) = docker_client.images.load(archive.read())
    return image


def push(docker_client, image, repository, tag):
    """Push the image as repository:tag; the local tag goes again (the image keeps its own)."""
    reference = "%s:%s" % (repository, tag)
    image.tag(repository, tag)
    try:
        for line in docker_client.images.push(repository, tag, stream=True, decode=True):
            assert "error" not in line, line
    finally:
        docker_client.images.remove(reference, noprune=True)
    return reference


def real_node_deployment(image, **spec):
    body = deployment("web", image=image, replicas=1, **spec)
    pod_spec = body["spec"]["template"]["spec"]
    pod_spec.update(ON_REAL_NODE)
    pod_spec["containers"][0]["imagePullPolicy"] = "Always"
    return body


def new_pod_waiting(core_v1, namespace, image, reason, text):
    """The pod of `image` whose container waits with `reason` and a message containing `text`, or None."""
    for pod in core_v1.list_namespaced_pod(namespace, label_selector="app=web").items:
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if status.image == image and waiting and waiting.reason == reason and text in (waiting.message or ""):
                return pod.metadata.name
    return None


def test_registry_down_for_a_few_seconds_does_not_fail_the_rollout(tmp_path, kubeconfig, apps_v1, core_v1,
                                                                    namespace, docker_client, pause_image,
                                                                    private_registry):
    repository = private_registry.host + "/kubedev-test/pause"
    old = push(docker_client, pause_image, repository, "old")
    new = push(docker_client, pause_image, repository, "new-" + uuid.uuid4().hex[:6])
    create(apps_v1, kubeconfig, namespace, real_node_deployment(old))
    private_registry.stop()
    seen = {}

    def registry_comes_back():
        seen["pod"] = wait_for("the new pod's pull to be refused", lambda: new_pod_waiting(
            core_v1, namespace, new, "ErrImagePull", "connection refused"), timeout=120)
        private_registry.start()

    outcome = race("realnode-registry-down", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": new}, kubectl_timeout=DONE_WITHIN, after_patch=registry_comes_back,
                   module_args={"rollback_on_failure": True, "wait_timeout": DONE_WITHIN})

    assert seen.get("pod"), "the pull never failed: the scenario did not happen"
    assert (outcome.kubectl, outcome.module) == (COMPLETE, COMPLETE), (outcome.kubectl_output, outcome.result)
    assert outcome.result["rolled_back"] is False
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": new}
    print("registry down for %.1fs" % (private_registry.started_at - private_registry.stopped_at))


def test_a_tag_that_does_not_exist_fails_within_seconds(tmp_path, kubeconfig, apps_v1, namespace, registry,
                                                        docker_client, pause_image):
    """Same verdict as kubectl (which fails at the progress deadline), decided long before it."""
    repository = registry + "/kubedev-test/pause"
    old = push(docker_client, pause_image, repository, "old")
    missing = repository + ":missing-" + uuid.uuid4().hex[:6]
    create(apps_v1, kubeconfig, namespace, real_node_deployment(old, progressDeadlineSeconds=60))
    # No rollback here: kubectl, still watching, would judge the rollback's rollout instead.
    outcome = race("realnode-missing-tag", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": missing}, kubectl_timeout=DONE_WITHIN, module_args={"wait_timeout": DONE_WITHIN})

    assert (outcome.kubectl, outcome.module) == (FAILED, FAILED), (outcome.kubectl_output, outcome.result)
    assert outcome.target["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert ": not found" in outcome.target["message"]
    assert outcome.kubectl_waiting_when_module_returned is True
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": missing}


def test_configmap_created_after_the_rollout_started(tmp_path, kubeconfig, apps_v1, core_v1, namespace, registry,
                                                     docker_client, pause_image):
    """CreateContainerConfigError for a ConfigMap that does not exist yet heals once it is created."""
    repository = registry + "/kubedev-test/pause"
    old = push(docker_client, pause_image, repository, "old")
    new = push(docker_client, pause_image, repository, "new-" + uuid.uuid4().hex[:6])
    settings = {"metadata": {"name": "settings"}, "data": {"level": "info"}}
    core_v1.create_namespaced_config_map(namespace, settings)
    body = real_node_deployment(old)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}]
    create(apps_v1, kubeconfig, namespace, body)
    core_v1.delete_namespaced_config_map("settings", namespace)   # the running pod keeps its environment
    seen = {}

    def configmap_appears():
        seen["pod"] = wait_for("the new pod to miss its ConfigMap", lambda: new_pod_waiting(
            core_v1, namespace, new, "CreateContainerConfigError", 'configmap "settings" not found'), timeout=120)
        core_v1.create_namespaced_config_map(namespace, settings)

    outcome = race("realnode-configmap-appears", tmp_path, kubeconfig, apps_v1, namespace, "Deployment", "web",
                   {"web": new}, kubectl_timeout=DONE_WITHIN, after_patch=configmap_appears,
                   module_args={"rollback_on_failure": True, "wait_timeout": DONE_WITHIN})

    assert seen.get("pod"), "the new pod never missed the ConfigMap: the scenario did not happen"
    assert (outcome.kubectl, outcome.module) == (COMPLETE, COMPLETE), (outcome.kubectl_output, outcome.result)
    assert outcome.result["rolled_back"] is False
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": new}
