"""Shared pytest fixtures: the running test environment (scripts/testenv) or any cluster named by
KUBEDEV_TEST_KUBECONFIG. Every test that touches the cluster gets its own namespace, deleted after."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
STATE = pathlib.Path(os.environ.get("KUBEDEV_TESTENV_STATE", ROOT / ".testenv"))
VENV_BIN = pathlib.Path(sys.executable).parent


def _kubeconfig_path():
    return pathlib.Path(os.environ.get("KUBEDEV_TEST_KUBECONFIG", STATE / "kubeconfig"))


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def kubeconfig():
    path = _kubeconfig_path()
    if not path.is_file():
        pytest.fail(f"no kubeconfig at {path}: run `scripts/testenv up` (or set KUBEDEV_TEST_KUBECONFIG)")
    return str(path)


@pytest.fixture(scope="session")
def api_client(kubeconfig):
    from kubernetes import client, config

    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def core_v1(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps_v1(api_client):
    from kubernetes import client

    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def batch_v1(api_client):
    from kubernetes import client

    return client.BatchV1Api(api_client)


@pytest.fixture(scope="session")
def rbac_v1(api_client):
    from kubernetes import client

    return client.RbacAuthorizationV1Api(api_client)


@pytest.fixture()
def namespace(core_v1, request):
    """A fresh namespace per test, deleted afterwards (contents go with it)."""
    from kubernetes import client

    base = request.node.name.lower().replace("_", "-")
    name = "t-" + "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-") + "-" + uuid.uuid4().hex[:6]
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"kubedev-test": "true"})))
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def registry():
    """host:port of the plain registry started by scripts/testenv."""
    return "127.0.0.1:" + os.environ.get("KUBEDEV_REGISTRY_PORT", "5000")


@pytest.fixture(scope="session")
def auth_registry():
    """The htpasswd-protected registry: dict(host, username, password)."""
    creds = STATE / "auth-registry.json"
    if not creds.is_file():
        pytest.fail(f"{creds} missing: run `scripts/testenv up`")
    return json.loads(creds.read_text())


@pytest.fixture(scope="session")
def docker_client():
    import docker

    return docker.from_env()


@pytest.fixture(scope="session")
def base_image():
    return "kubedev/node-base:bookworm"


def run_playbook(playbook, *args, extra_vars=None, check=True, env=None, cwd=ROOT):
    """Run ansible-playbook from the project's virtualenv; returns CompletedProcess (text)."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    full_env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# The test cluster's kwok nodes run no containers: the deploy role's URL and page check go through the others.
SERVING_NODES = "type!=kwok"


def existing_cluster_vars(kubeconfig, namespace, registry, base_image, **extra):
    """Playbook variables for the test cluster as an existing cluster (no minikube, no tool installs)."""
    return {
        "kubedev_cluster_provider": "existing",
        "kubedev_install_tools": False,
        "kubedev_kubeconfig": kubeconfig,
        "kubedev_namespace": namespace,
        "kubedev_registry": registry,
        "kubedev_base_image": base_image,
        "deploy_url_node_selector": SERVING_NODES,
        **extra,
    }


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on (for a server that is not there, or one a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what, check, timeout=60, interval=0.25):
    """Poll check() until it returns something truthy (returned); fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


def copy_sample_app(target):
    """A private copy of sample_app at target (without node_modules), for tests that edit the app."""
    shutil.copytree(ROOT / "sample_app", target, ignore=shutil.ignore_patterns("node_modules"))
    return target


@pytest.fixture()
def app_dir(tmp_path):
    """A private copy of the sample app, so the test can edit it."""
    return copy_sample_app(tmp_path / "app")


def rollout_complete(deployment):
    """kubectl rollout status's conditions: every replica updated and available, no old ones left."""
    status, spec = deployment.status, deployment.spec
    return (
        (status.observed_generation or 0) >= deployment.metadata.generation
        and (status.updated_replicas or 0) == spec.replicas
        and (status.replicas or 0) == spec.replicas
        and (status.available_replicas or 0) == spec.replicas
    )


def pipe(source, sink):
    """Copy what source sends to sink until either side closes, then shut both down (a test's TLS front or
    CONNECT tunnel, one thread per direction)."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
