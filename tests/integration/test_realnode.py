"""The real node (scripts/testenv up --node real): kubelet + containerd + CNI bridge + kube-proxy, so
the sample app really runs. site.yml deploys it the way a user would, pointed at the tainted real node
by the deploy role's deploy_node_selector/deploy_tolerations: the image role builds sample_app on the
locally built Node base image and pushes it to the test registry, the node's containerd pulls it from
there, and the page is fetched over the Service's NodePort on the node's IP, through kube-proxy's
iptables rules. release.yml then rolls out an edited app while a loop of GETs must see no failure."""

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from conftest import copy_sample_app, existing_cluster_vars, run_playbook, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.realnode]

NODE = "real-node-0"
NODE_KEY = "kubedev.io/real-node"  # label and taint key on the real node, value "true"
APP_LABEL = "web-pod"
HELLO = "Hello from the Kubernetes cluster"
# The deploy role's variables that put the app's and the CronJob's pods on the real node.
ON_REAL_NODE = {
    "deploy_node_selector": {NODE_KEY: "true"},
    "deploy_tolerations": [{"key": NODE_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}
VERSION = re.compile(r'<span id="version">([^<]*)</span>')
# Requests go straight to the node, never through a proxy the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=5):
    """(status, body) of a GET on a fresh connection; status None and the error text if it failed."""
    try:
        with OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return None, repr(err)


def page_version(body):
    match = VERSION.search(body)
    return match.group(1) if match else None


def bump_version(app_dir, version):
    """The edit of the tutorial's dev loop: a new version in package.json (and its lockfile)."""
    package = app_dir / "package.json"
    data = json.loads(package.read_text())
    data["version"] = version
    package.write_text(json.dumps(data, indent=2) + "\n")
    lock = app_dir / "package-lock.json"
    if lock.is_file():
        data = json.loads(lock.read_text())
        data["version"] = version
        data.get("packages", {}).get("", {})["version"] = version
        lock.write_text(json.dumps(data, indent=2) + "\n")


def site_on_real_node(repo_root, kubeconfig, namespace, registry, base_image, app_dir):
    """site.yml into namespace with the app from app_dir on the real node; returns its output."""
    play_vars = existing_cluster_vars(
        kubeconfig, namespace, registry, base_image, kubedev_app_dir=str(app_dir), **ON_REAL_NODE
    )
    return run_playbook(repo_root / "playbooks" / "site.yml", extra_vars=play_vars).stdout


def node_port_url(core_v1, namespace, node_ip):
    service = core_v1.read_namespaced_service("web-service", namespace)
    return f"http://{node_ip}:{service.spec.ports[0].node_port}/"


def app_pods(core_v1, namespace):
    return core_v1.list_namespaced_pod(namespace, label_selector=f"app={APP_LABEL}").items


def running_ready(pod):
    ready = [c.status for c in pod.status.conditions or [] if c.type == "Ready"]
    return pod.status.phase == "Running" and ready == ["True"] and pod.metadata.deletion_timestamp is None


# --- the node ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_node(core_v1):
    try:
        node = core_v1.read_node(NODE)
    except ApiException as err:
        if err.status == 404:
            pytest.fail(f"no node {NODE}: run `scripts/testenv up --node real`")
        raise
    ready = [c.status for c in node.status.conditions or [] if c.type == "Ready"]
    assert ready == ["True"], f"{NODE} is not Ready: {node.status.conditions}"
    return node


@pytest.fixture(scope="module")
def node_ip(real_node):
    return next(a.address for a in real_node.status.addresses if a.type == "InternalIP")


# --- the tutorial's objects, deployed by site.yml -----------------------------------------------


@pytest.fixture(scope="module")
def app_namespace(core_v1):
    name = "t-realnode-app-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace({"metadata": {"name": name, "labels": {"kubedev-test": "true"}}})
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def app(real_node, node_ip, repo_root, kubeconfig, registry, base_image, app_namespace, tmp_path_factory):
    """site.yml has deployed the sample app onto the real node: (namespace, NodePort URL, site.yml's output)."""
    app_dir = copy_sample_app(tmp_path_factory.mktemp("realnode") / "app")
    output = site_on_real_node(repo_root, kubeconfig, app_namespace, registry, base_image, app_dir)
    return app_namespace, output


# --- tests ------------------------------------------------------------------------------------


def test_real_node_runs_the_control_planes_version_and_is_tainted(real_node, api_client):
    server = client.VersionApi(api_client).get_code()
    assert real_node.status.node_info.kubelet_version == server.git_version
    assert real_node.metadata.labels.get(NODE_KEY) == "true"
    taints = [(t.key, t.value, t.effect) for t in real_node.spec.taints or []]
    assert (NODE_KEY, "true", "NoSchedule") in taints
    # the sandbox image is the one built from pause.c and imported, never pulled
    images = [name for image in real_node.status.images or [] for name in image.names or []]
    assert "registry.k8s.io/pause:3.10.2" in images


def test_pod_without_toleration_never_lands_on_the_real_node(core_v1, real_node, namespace):
    core_v1.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "no-toleration"},
            "spec": {
                "nodeSelector": {NODE_KEY: "true"},
                "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10.2"}],
            },
        },
    )

    def unschedulable():
        pod = core_v1.read_namespaced_pod("no-toleration", namespace)
        return next(
            (c for c in pod.status.conditions or [] if c.type == "PodScheduled" and c.reason == "Unschedulable"),
            None,
        )

    condition = wait_for("the scheduler to refuse the pod", unschedulable, timeout=60)
    assert "untolerated taint" in condition.message
    assert core_v1.read_namespaced_pod("no-toleration", namespace).spec.node_name is None


def test_site_serves_the_configmap_values_through_the_node_port(app, core_v1, node_ip):
    namespace, output = app
    # the deploy role's own HTTP check ran (deploy_http_check auto: a pod runs on a node of deploy_url_node_selector)
    check = re.search(r"TASK \[kubedev\.devloop\.deploy : Check that the page shows the config values\][^\n]*\n(\w+):", output)
    assert check and check.group(1) == "ok", output[-5000:]
    url = node_port_url(core_v1, namespace, node_ip)
    assert f"The app: {url.rstrip('/')}" in output, output[-3000:]
    pods = app_pods(core_v1, namespace)
    assert len(pods) == 2 and all(p.spec.node_name == NODE and running_ready(p) for p in pods)
    status, body = http_get(url)
    assert status == 200, body
    assert 'MY_NON_SECRET: "foo"' in body
    assert 'MY_OTHER_NON_SECRET: "bar"' in body
    assert page_version(body) == "0.0.1"


def test_exec_lists_the_app_files(app, core_v1, kubeconfig):
    namespace, _ = app
    pod = app_pods(core_v1, namespace)[0].metadata.name
    # stream() swaps the client's transport for a websocket: give it a client of its own
    exec_api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    listing = stream(
        exec_api.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container="web",
        command=["ls", "/code"],
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
    )
    files = listing.split()
    assert "server.js" in files and "package.json" in files, listing


def test_cronjob_pod_logs_hello(app, api_client, core_v1, batch_v1):
    namespace, _ = app
    cronjob = batch_v1.read_namespaced_cron_job("print-hello", namespace)
    # what `kubectl create job --from=cronjob/print-hello` does: run it now, not at the next minute
    batch_v1.create_namespaced_job(
        namespace,
        {
            "metadata": {
                "name": "print-hello-now",
                "ownerReferences": [
                    {"apiVersion": "batch/v1", "kind": "CronJob", "name": "print-hello", "uid": cronjob.metadata.uid}
                ],
            },
            "spec": api_client.sanitize_for_serialization(cronjob.spec.job_template.spec),
        },
    )

    def succeeded_pod():
        pods = core_v1.list_namespaced_pod(namespace, label_selector="job-name=print-hello-now").items
        return next((p for p in pods if p.status.phase == "Succeeded"), None)

    pod = wait_for("the print-hello Job's pod to succeed", succeeded_pod, timeout=120)
    assert pod.spec.node_name == NODE
    # the same call as `kubectl logs`: apiserver -> kubelet -> containerd's log file
    log = core_v1.read_namespaced_pod_log(pod.metadata.name, namespace)
    assert HELLO in log


def test_deleted_pod_is_replaced_by_a_running_one(app, core_v1, node_ip):
    namespace, _ = app
    victim = app_pods(core_v1, namespace)[0]
    core_v1.delete_namespaced_pod(victim.metadata.name, namespace)

    def replaced():
        pods = [p for p in app_pods(core_v1, namespace) if p.metadata.uid != victim.metadata.uid]
        fresh = [p for p in pods if running_ready(p)]
        return fresh if len(fresh) == 2 else None

    pods = wait_for("the ReplicaSet to replace the deleted pod", replaced, timeout=120)
    assert all(p.spec.node_name == NODE for p in pods)
    assert victim.metadata.name not in {p.metadata.name for p in pods}
    status, body = http_get(node_port_url(core_v1, namespace, node_ip))
    assert status == 200 and 'MY_NON_SECRET: "foo"' in body, body


class GetLoop:
    """GETs on url in a thread, one fresh connection each, until stopped: every (status, version or error)."""

    def __init__(self, url, max_requests=20000):
        self.url, self.max_requests = url, max_requests
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set() and len(self.results) < self.max_requests:
            status, body = http_get(self.url)
            self.results.append((status, page_version(body) if status == 200 else body))
            time.sleep(0.02)

    def last_versions(self, count):
        return [version for _, version in self.results[-count:]]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


def test_release_changes_the_page_without_a_failed_request(
    real_node, node_ip, repo_root, kubeconfig, registry, base_image, namespace, core_v1, apps_v1, app_dir
):
    site_on_real_node(repo_root, kubeconfig, namespace, registry, base_image, app_dir)
    url = node_port_url(core_v1, namespace, node_ip)
    status, body = http_get(url)
    assert status == 200 and page_version(body) == "0.0.1", body
    web = apps_v1.read_namespaced_deployment("web-deployment", namespace).spec.template.spec.containers[0]
    # the deploy role's default: terminating pods keep serving until kube-proxy has dropped them
    assert web.lifecycle.pre_stop.sleep.seconds == 5
    old_image = web.image

    bump_version(app_dir, "0.0.2")
    play_vars = existing_cluster_vars(kubeconfig, namespace, registry, base_image, kubedev_app_dir=str(app_dir))
    with GetLoop(url) as loop:
        wait_for("the first answers", lambda: len(loop.results) >= 5, timeout=30)
        release = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars).stdout
        # set_image returned at rollout complete; kube-proxy then drops the old pods within a sync or two
        wait_for("20 answers in a row from 0.0.2", lambda: loop.last_versions(20) == ["0.0.2"] * 20, timeout=60)

    new_image = apps_v1.read_namespaced_deployment("web-deployment", namespace).spec.template.spec.containers[0].image
    assert new_image != old_image and new_image.split(":")[-1].startswith("0.0.2-"), new_image
    assert f"Released {new_image}" in release, release[-3000:]
    failed = [r for r in loop.results if r[0] != 200]
    assert not failed, f"{len(failed)} of {len(loop.results)} requests failed during the release: {failed[:5]}"
    versions = [version for _, version in loop.results]
    assert versions[0] == "0.0.1" and set(versions) == {"0.0.1", "0.0.2"}, sorted(set(versions))
    # once the new version answered, the old one may still answer a little (old pods drain), never after the end
    assert versions[-20:] == ["0.0.2"] * 20
