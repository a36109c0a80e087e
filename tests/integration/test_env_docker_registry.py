"""The container half of the test environment (scripts/testenv): dockerd, the plain and the
htpasswd-protected registry, and the locally built Node base image. Nothing is pulled from the
internet: test images are made with `docker import` from a tarball or built FROM the base image."""

import base64
import io
import json
import re
import tarfile
import urllib.error
import urllib.request
import uuid

import docker
import pytest

pytestmark = pytest.mark.integration

# a one-dependency npm project with its lockfile, for `npm ci` inside a build
PACKAGE_JSON = {"name": "probe", "version": "1.0.0", "dependencies": {"ms": "2.1.3"}}
PACKAGE_LOCK = {
    "name": "probe",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "probe", "version": "1.0.0", "dependencies": {"ms": "2.1.3"}},
        "node_modules/ms": {
            "version": "2.1.3",
            "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
            "license": "MIT",
        },
    },
}
# WORKDIR is the user's home: the legacy builder of docker 20.10 makes a new WORKDIR owned by root.
# The label marks every intermediate image, so a failed build can be cleaned up too.
PROBE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PROBE
LABEL dev.kubedev.test-probe=${PROBE}
USER node
WORKDIR /home/node
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci
CMD ["node", "-p", "require('ms')('2h')"]
"""


@pytest.fixture()
def probe_image(docker_client, request):
    """make(registry_host) -> (repository, tag, image): a tiny image tagged for that registry, with a
    fresh tag each time; the image (all its tags and pulled digests) is removed afterwards."""
    made = []

    def make(registry_host, client=docker_client):
        repository = f"{registry_host}/kubedev-test/{request.node.name.lower().replace('_', '-')}"
        tag = uuid.uuid4().hex[:12]
        image = import_tiny_image(client, repository, tag)
        made.append(image.id)
        return repository, tag, image

    yield make
    for image_id in made:
        try:
            docker_client.images.remove(image_id, force=True)
        except docker.errors.ImageNotFound:
            pass  # the test removed it itself and did not pull it back (it failed before that)


def import_tiny_image(docker_client, repository, tag):
    """A one-layer image with unique content, made by `docker import` from an in-memory tarball."""
    content = uuid.uuid4().hex.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("probe.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    docker_client.api.import_image_from_data(buf.getvalue(), repository=repository, tag=tag)
    return docker_client.images.get(f"{repository}:{tag}")


def push(client, repository, tag, auth_config=None):
    """Push and return (digest, error) as the daemon reports them in its progress stream."""
    digest = error = None
    for event in client.images.push(repository, tag=tag, auth_config=auth_config, stream=True, decode=True):
        error = event.get("error", error)
        digest = event.get("aux", {}).get("Digest", digest)
    return digest, error


def registry_request(method, url, credentials=None):
    """(status, body) of a registry API call, with optional basic auth."""
    req = urllib.request.Request(url, method=method)
    if credentials:
        token = base64.b64encode(f"{credentials['username']}:{credentials['password']}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def delete_manifest(repository, digest, credentials=None):
    host, name = repository.split("/", 1)
    status, body = registry_request("DELETE", f"http://{host}/v2/{name}/manifests/{digest}", credentials)
    assert status == 202, body


def run_in(docker_client, image, *command, **kwargs):
    return docker_client.containers.run(image, list(command), remove=True, **kwargs).decode().strip()


def test_plain_registry_returns_a_pushed_image_by_digest(docker_client, registry, probe_image):
    repository, tag, image = probe_image(registry)

    digest, error = push(docker_client, repository, tag)
    assert error is None
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)

    docker_client.images.remove(image.id, force=True)  # the pull must come from the registry
    pulled = docker_client.images.pull(f"{repository}@{digest}")
    assert pulled.id == image.id
    delete_manifest(repository, digest)


def test_auth_registry_refuses_unauthenticated_and_wrong_credentials(docker_client, auth_registry, probe_image):
    repository, tag, _ = probe_image(auth_registry["host"])

    # auth_config={} sends no credentials, whatever ~/.docker/config.json holds
    digest, error = push(docker_client, repository, tag, auth_config={})
    assert digest is None
    assert "no basic auth credentials" in error  # docker's words for "the registry wants a login"

    wrong = {"username": auth_registry["username"], "password": auth_registry["password"] + "-wrong"}
    digest, error = push(docker_client, repository, tag, auth_config=wrong)
    assert digest is None
    assert "unauthorized: authentication required" in error

    name = repository.split("/", 1)[1]
    status, body = registry_request("POST", f"http://{auth_registry['host']}/v2/{name}/blobs/uploads/")
    assert status == 401
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"


def test_auth_registry_accepts_a_push_after_login(auth_registry, probe_image):
    client = docker.from_env()  # its own client: the login stays out of the shared fixture
    repository, tag, image = probe_image(auth_registry["host"], client)

    answer = client.login(
        auth_registry["username"], auth_registry["password"], registry=auth_registry["host"], reauth=True
    )
    assert answer["Status"] == "Login Succeeded"
    digest, error = push(client, repository, tag)
    assert error is None

    client.images.remove(image.id, force=True)
    assert client.images.pull(f"{repository}@{digest}").id == image.id
    delete_manifest(repository, digest, auth_registry)


def test_base_image_has_node_npm_and_user_node(docker_client, base_image):
    assert re.fullmatch(r"v\d+\.\d+\.\d+", run_in(docker_client, base_image, "node", "--version"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", run_in(docker_client, base_image, "npm", "--version"))
    passwd = run_in(docker_client, base_image, "getent", "passwd", "1000").split(":")
    assert (passwd[0], passwd[2], passwd[3], passwd[5]) == ("node", "1000", "1000", "/home/node")
    assert run_in(docker_client, base_image, "id", "-u", user="node") == "1000"
    assert docker_client.images.get(base_image).attrs["Config"]["Cmd"] == ["node"]


def test_npm_ci_runs_in_a_build_from_the_base_image(docker_client, base_image, tmp_path):
    (tmp_path / "package.json").write_text(json.dumps(PACKAGE_JSON))
    (tmp_path / "package-lock.json").write_text(json.dumps(PACKAGE_LOCK))
    (tmp_path / "Dockerfile").write_text(PROBE_DOCKERFILE)
    probe = uuid.uuid4().hex[:8]
    tag = f"kubedev-test/npm-ci-probe:{probe}"
    try:
        docker_client.images.build(
            path=str(tmp_path),
            tag=tag,
            buildargs={"BASE_IMAGE": base_image, "PROBE": probe},
            network_mode="host",  # how builds reach the npm registry in this environment
            forcerm=True,
        )
        assert run_in(docker_client, tag) == "7200000"  # ms('2h'): `ms` was installed by npm ci
    finally:
        # newest first, so children go before the layers they build on
        images = docker_client.images.list(all=True, filters={"label": f"dev.kubedev.test-probe={probe}"})
        for image in sorted(images, key=lambda i: i.attrs["Created"], reverse=True):
            try:
                docker_client.images.remove(image.id, force=True)
            except docker.errors.ImageNotFound:
                pass  # went with a child removed before it
