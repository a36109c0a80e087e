"""The real node (scripts/testenv up --node real): kubelet + containerd + CNI bridge + kube-proxy, so
the sample app really runs. Its image is built from sample_app on the locally built Node base image,
pushed to the test registry and pulled from there by the node's containerd; the page is fetched over
the Service's NodePort on the node's IP, through kube-proxy's iptables rules.

The objects are the tutorial's (ConfigMap web-configmap, Deployment web-deployment with container
web, NodePort Service web-service, CronJob print-hello), created with the Kubernetes client: the
deploy role has no toleration/nodeSelector variables yet, and the real node is tainted so the
kwok-based tests never land on it."""

import json
import pathlib
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

pytestmark = [pytest.mark.integration, pytest.mark.realnode]

NODE = "real-node-0"
NODE_KEY = "kubedev.io/real-node"  # label and taint key on the real node, value "true"
CONFIG = {"MY_NON_SECRET": "foo", "MY_OTHER_NON_SECRET": "bar"}
APP_LABEL = "web-pod"
HELLO = "Hello from the Kubernetes cluster"
ON_REAL_NODE = {
    "nodeSelector": {NODE_KEY: "true"},
    "tolerations": [{"key": NODE_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def wait_for(what, check, timeout=120, interval=0.5):
    """Poll check() until it returns something truthy (returned); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


def http_get(url, timeout=5):
    """(status, body) of a GET on a fresh connection; status None and the error text if it failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return None, repr(err)


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


# --- the app's images -------------------------------------------------------------------------


def build_and_push(docker_client, app_dir, ref, base_image):
    docker_client.images.build(
        path=str(app_dir), tag=ref, buildargs={"BASE_IMAGE": base_image}, network_mode="host", rm=True
    )
    repository, tag = ref.rsplit(":", 1)
    for line in docker_client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in line, f"pushing {ref}: {line}"
    return ref


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


@pytest.fixture(scope="module")
def app_images(docker_client, registry, base_image, repo_root, tmp_path_factory):
    """Two versions of sample_app in the test registry: {version: image reference}."""
    source = pathlib.Path(repo_root) / "sample_app"
    if not (source / "Dockerfile").is_file():
        pytest.fail(f"{source}/Dockerfile missing: the sample app cannot be built")
    run = uuid.uuid4().hex[:8]
    repository = f"{registry}/kubedev-realnode/hello-k8s"
    v1 = build_and_push(docker_client, source, f"{repository}:0.0.1-{run}", base_image)
    edited = tmp_path_factory.mktemp("sample_app") / "app"
    shutil.copytree(source, edited, ignore=shutil.ignore_patterns("node_modules"))
    bump_version(edited, "0.0.2")
    v2 = build_and_push(docker_client, edited, f"{repository}:0.0.2-{run}", base_image)
    yield {"0.0.1": v1, "0.0.2": v2}
    # the registry keeps them for the node; dockerd need not keep one more pair of tags per run
    for ref in (v1, v2):
        docker_client.images.remove(ref)


# --- the tutorial's objects, on the real node -------------------------------------------------


def pod_spec(image):
    return {
        **ON_REAL_NODE,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {
                "name": "web",
                "image": image,
                "ports": [{"name": "http", "containerPort": 3000}],
                "envFrom": [{"configMapRef": {"name": "web-configmap"}}],
                # keep serving for a while after SIGTERM, until kube-proxy has dropped the pod
                "env": [{"name": "SHUTDOWN_DELAY_MS", "value": "5000"}],
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 1},
                "securityContext": RESTRICTED_CONTAINER,
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def deploy_app(core_v1, apps_v1, namespace, image, node_ip):
    """The app rolled out and answering on its NodePort; returns the URL."""
    core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "web-configmap"}, "data": CONFIG})
    apps_v1.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web-deployment"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": APP_LABEL}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"metadata": {"labels": {"app": APP_LABEL}}, "spec": pod_spec(image)},
            },
        },
    )
    service = core_v1.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web-service"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": APP_LABEL},
                "ports": [{"port": 3000, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    )
    wait_rolled_out(apps_v1, namespace)
    url = f"http://{node_ip}:{service.spec.ports[0].node_port}/"
    # kube-proxy programs a new Service's NodePort within its next sync
    wait_for(f"{url} to answer", lambda: http_get(url)[0] == 200, timeout=60)
    return url


def rolled_out(apps_v1, namespace):
    """kubectl rollout status's conditions: every replica updated and available, no old ones."""
    d = apps_v1.read_namespaced_deployment("web-deployment", namespace)
    s = d.status
    return (
        (s.observed_generation or 0) >= d.metadata.generation
        and (s.updated_replicas or 0) == d.spec.replicas
        and (s.replicas or 0) == d.spec.replicas
        and (s.available_replicas or 0) == d.spec.replicas
    )


def wait_rolled_out(apps_v1, namespace, timeout=180):
    wait_for(f"web-deployment in {namespace} to roll out", lambda: rolled_out(apps_v1, namespace), timeout)


def app_pods(core_v1, namespace):
    return core_v1.list_namespaced_pod(namespace, label_selector=f"app={APP_LABEL}").items


def running_ready(pod):
    ready = [c.status for c in pod.status.conditions or [] if c.type == "Ready"]
    return pod.status.phase == "Running" and ready == ["True"] and pod.metadata.deletion_timestamp is None


@pytest.fixture(scope="module")
def app_namespace(core_v1):
    name = "t-realnode-app-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace({"metadata": {"name": name, "labels": {"kubedev-test": "true"}}})
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def app(core_v1, apps_v1, real_node, node_ip, app_images, app_namespace):
    """Version 0.0.1 running on the real node: (namespace, base URL of the NodePort)."""
    return app_namespace, deploy_app(core_v1, apps_v1, app_namespace, app_images["0.0.1"], node_ip)


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


def test_app_serves_the_configmap_values_through_the_node_port(app, core_v1):
    namespace, url = app
    pods = app_pods(core_v1, namespace)
    assert pods and all(p.spec.node_name == NODE and running_ready(p) for p in pods)
    status, body = http_get(url)
    assert status == 200, body
    for name, value in CONFIG.items():
        assert f'{name}: "{value}"' in body
    assert '<span id="version">0.0.1</span>' in body


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


def test_cronjob_pod_logs_hello(app, api_client, core_v1, batch_v1, app_images):
    namespace, _ = app
    job_spec = {
        "backoffLimit": 2,
        "template": {
            "metadata": {"labels": {"app": "print-hello"}},
            "spec": {
                **pod_spec(app_images["0.0.1"]),
                "restartPolicy": "OnFailure",
                "containers": [
                    {
                        "name": "print-hello",
                        "image": app_images["0.0.1"],
                        "command": ["node", "-e", f"console.log(new Date().toISOString() + ' {HELLO}')"],
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
                "volumes": [],
            },
        },
    }
    cronjob = batch_v1.create_namespaced_cron_job(
        namespace,
        {"metadata": {"name": "print-hello"}, "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": job_spec}}},
    )
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

    pod = wait_for("the print-hello Job's pod to succeed", succeeded_pod)
    assert pod.spec.node_name == NODE
    # the same call as `kubectl logs`: apiserver -> kubelet -> containerd's log file
    log = core_v1.read_namespaced_pod_log(pod.metadata.name, namespace)
    assert HELLO in log


def test_deleted_pod_is_replaced_by_a_running_one(app, core_v1, apps_v1):
    namespace, url = app
    victim = app_pods(core_v1, namespace)[0]
    core_v1.delete_namespaced_pod(victim.metadata.name, namespace)

    def replaced():
        pods = [p for p in app_pods(core_v1, namespace) if p.metadata.uid != victim.metadata.uid]
        fresh = [p for p in pods if running_ready(p)]
        return fresh if len(fresh) == 2 else None

    pods = wait_for("the ReplicaSet to replace the deleted pod", replaced)
    assert all(p.spec.node_name == NODE for p in pods)
    assert victim.metadata.name not in {p.metadata.name for p in pods}
    status, body = http_get(url)
    assert status == 200 and 'MY_NON_SECRET: "foo"' in body, body


def test_rollout_changes_the_page_without_a_failed_request(core_v1, apps_v1, real_node, node_ip, app_images, namespace):
    url = deploy_app(core_v1, apps_v1, namespace, app_images["0.0.1"], node_ip)
    status, body = http_get(url)
    assert status == 200 and '<span id="version">0.0.1</span>' in body, body

    results = []  # (status, version seen or error) of every request, in order
    stop = threading.Event()

    def hammer(max_requests=5000):
        while not stop.is_set() and len(results) < max_requests:
            status, body = http_get(url)
            version = body.split('<span id="version">', 1)[-1].split("<", 1)[0] if status == 200 else body
            results.append((status, version))
            time.sleep(0.02)

    load = threading.Thread(target=hammer, daemon=True)
    load.start()
    try:
        apps_v1.patch_namespaced_deployment(
            "web-deployment",
            namespace,
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": app_images["0.0.2"]}]}}}},
        )
        wait_rolled_out(apps_v1, namespace)
        # kube-proxy drops the old pods within a sync or two; from then on only the new version answers
        wait_for(
            "20 answers in a row from 0.0.2",
            lambda: [v for _, v in results[-20:]] == ["0.0.2"] * 20 or not load.is_alive(),
            timeout=60,
        )
    finally:
        stop.set()
        load.join(timeout=30)

    failed = [r for r in results if r[0] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed during the rollout: {failed[:5]}"
    versions = [v for _, v in results]
    assert set(versions) == {"0.0.1", "0.0.2"}, set(versions)
    assert versions[0] == "0.0.1"
    assert versions[-20:] == ["0.0.2"] * 20, versions[-20:]
