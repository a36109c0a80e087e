"""The image role's engine client (roles/image/files/docker_engine.py) on the real dockerd and registry.
`find` answers as `docker image inspect` does on the same engine: over its unix socket, and behind TLS with client
certificates the way minikube's docker-env reaches its engine (DOCKER_HOST=tcp://, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH); a certificate from another CA and an engine that is not there are refused with the reason. It
names the content tag as Ansible's own filters do in the image role, and asks the registry what the registry's HTTP
API says. `tag` leaves the engine and the registry as `docker tag` and `docker push` do, and names a failure in the
engine's words. `build` sends the context `docker build` sends (the Docker CLI on the same directory is the
reference), pushes as `docker push`, and names a failed step with what it printed."""

import datetime
import io
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import urllib.error
import uuid

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import free_port
from test_release import manifest_digest
from test_set_image_support import parse_task_result, run_playbook, task_playbook

pytestmark = pytest.mark.integration

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "image", "files", "docker_engine.py")
SOCKET = "/var/run/docker.sock"


def engine(*args, env=None):
    proc = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def find(*args, env=None):
    return engine("find", *args, env=env)


def by_ref(images):
    """name:tag -> (image ID, where it was pushed)."""
    return {ref: (image["Id"], sorted(image.get("RepoDigests") or [])) for image in images for ref in image["RepoTags"] or []}


def inspected(docker_client, *refs):
    """by_ref of what `docker image inspect` says of those references that name an image."""
    images = []
    for ref in refs:
        try:
            images.append(docker_client.images.get(ref).attrs)
        except docker.errors.ImageNotFound:
            pass
    return by_ref(images)


def listed(answer):
    assert answer["can_talk_to_docker"], answer
    return by_ref(answer["images"])


def registry_digest(registry, repository, tag):
    """The manifest digest the registry serves for repository:tag (what a node pulling it gets); None: no such tag."""
    try:
        return manifest_digest(registry, repository.split("/", 1)[1], tag)
    except urllib.error.HTTPError as error:
        assert error.code == 404, error
        return None


@pytest.fixture()
def pushed_ref(docker_client, registry, base_image):
    """The base image pushed to the test registry under a fresh repository: it has a RepoDigest there."""
    repository = f"{registry}/engine-probe-{uuid.uuid4().hex[:8]}"
    docker_client.images.get(base_image).tag(repository, "1.0-abc")
    docker_client.images.push(repository, "1.0-abc")
    yield repository
    docker_client.images.remove(f"{repository}:1.0-abc")


def test_find_answers_as_docker_image_inspect_over_the_unix_socket(docker_client, base_image, pushed_ref):
    refs = ["--base", base_image, pushed_ref, "1.0-abc", "no-such-tag"]
    answer = find(*refs, env={"DOCKER_HOST": "unix://" + SOCKET})
    assert listed(answer) == inspected(docker_client, base_image, f"{pushed_ref}:1.0-abc", f"{pushed_ref}:no-such-tag")
    _, digests = listed(answer)[f"{pushed_ref}:1.0-abc"]
    assert any(digest.startswith(f"{pushed_ref}@sha256:") for digest in digests), answer
    assert (answer["content_tag"], "registry" in answer) == ("", False)   # neither asked for
    assert listed(find(*refs)) == listed(answer)   # DOCKER_HOST unset: the same default socket


def role_digest(tmp_path, inputs):
    """The digest of the build inputs as the image role works it out (vars/main.yml: image__digest), by Ansible."""
    playbook = task_playbook(tmp_path, "ansible.builtin.debug",
                             {"msg": "{{ inputs | to_json(sort_keys=True) | hash('sha256') }}"}, name="digest.yml")
    proc = run_playbook(playbook, "-e", json.dumps({"inputs": inputs}), check=False,
                        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    return parse_task_result(proc.stdout)["msg"]


def test_find_names_the_content_tag_as_the_image_role_does(tmp_path, docker_client, base_image, fresh_repository):
    """The script's content tag is the role's: the same digest of the same inputs (non-ASCII text, numbers and
    booleans in them too), with the base image's ID the engine gives; the image it names is found."""
    inputs = {"context": uuid.uuid4().hex, "dockerfile": "Dockerfile", "args": {"BASE_IMAGE": base_image, "RETRIES": 3},
              "labels": {"org.example.note": "naïve – ünïcode", "org.example.ok": True}}
    base_id = docker_client.images.get(base_image).id
    tag = "1.0-" + role_digest(tmp_path, dict(inputs, base=base_id))[:12]
    docker_client.images.get(base_image).tag(fresh_repository, tag)

    answer = find("--base", base_image, "--content", "1.0", json.dumps(inputs), fresh_repository)
    assert answer["content_tag"] == tag, answer
    assert listed(answer)[f"{fresh_repository}:{tag}"][0] == base_id

    # Without a base image the digest takes '' for it; with one the engine lacks, the content tag is unknown.
    assert find("--content", "1.0", json.dumps(inputs), fresh_repository)["content_tag"] == (
        "1.0-" + role_digest(tmp_path, dict(inputs, base=""))[:12])
    missing = find("--base", "kubedev/no-such-image:1", "--content", "1.0", json.dumps(inputs), fresh_repository)
    assert (missing["content_tag"], missing["images"]) == ("", [])


def test_plan_answers_as_inputs_and_find_do(tmp_path, docker_client, registry, base_image):
    """`plan` is `inputs` and `find` in one run: the same answers, find asked with the names it took from
    package.json (the repository, the version tag, the content tag of the inputs with the context's digest)."""
    name = f"engine-plan-{uuid.uuid4().hex[:8]}"
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM scratch\n")
    (app / "package.json").write_text(json.dumps({"name": name, "version": "1.0"}))
    settings = {"dockerfile": "Dockerfile", "args": {"BASE_IMAGE": base_image}, "labels": {}}
    spec = {"app_dir": str(app), "dockerfile": "Dockerfile", "git": False, "name": "", "version": "", "registry": registry,
            "base": base_image, "content": True, "inputs": settings, "ask_registry": registry, "manifests": True}
    repository = f"{registry}/{name}"
    inputs = engine("inputs", str(app), "Dockerfile", "--no-git")
    content = dict(settings, context=inputs["sha256"])
    # The engine has the content tag's image, and the registry has it, so the manifests are asked too.
    tag = find("--base", base_image, "--content", "1.0", json.dumps(content), repository)["content_tag"]
    docker_client.images.get(base_image).tag(repository, tag)
    docker_client.images.push(repository, tag)
    try:
        answer = engine("plan", json.dumps(spec))
        assert {key: answer.pop(key) for key in ("app", "name", "version", "commit_tag", "repository")} == {
            "app": inputs, "name": name, "version": "1.0", "commit_tag": "", "repository": repository}
        assert answer == find("--base", base_image, "--content", "1.0", json.dumps(content), "--registry", registry,
                              "--manifests-of", name, repository, "1.0")
        assert answer["content_tag"] == tag and answer["registry"]["manifests"][tag] is not None, answer
    finally:
        docker_client.images.remove(f"{repository}:{tag}")


def test_find_asks_the_registry_as_its_http_api_answers(docker_client, registry, auth_registry, base_image, pushed_ref):
    """--registry: GET /v2/ (https first, then http); with --manifests-of, when the engine has the content tag's image,
    the manifest digests the registry serves for the content tag and the other tags (null: no such tag)."""
    inputs = {"context": uuid.uuid4().hex}
    tag = find("--content", "1.0", json.dumps(inputs), pushed_ref)["content_tag"]
    docker_client.images.get(base_image).tag(pushed_ref, tag)
    docker_client.images.push(pushed_ref, tag)
    try:
        path = pushed_ref.split("/", 1)[1]
        answer = find("--content", "1.0", json.dumps(inputs), "--registry", registry, "--manifests-of", path,
                      pushed_ref, "1.0-abc", "no-such-tag")["registry"]
        assert answer["https"]["status"] == -1 and answer["http"] == {"status": 200, "reason": ""}, answer
        assert answer["manifests"] == {tag: registry_digest(registry, pushed_ref, tag),
                                       "1.0-abc": registry_digest(registry, pushed_ref, "1.0-abc"), "no-such-tag": None}
        assert answer["manifests"][tag] is not None

        # A registry that wants a login answers 401, and is asked nothing more; a closed port, with the reason.
        wants_login = find("--content", "1.0", json.dumps(inputs), "--registry", auth_registry["host"], "--manifests-of",
                           path, pushed_ref)["registry"]
        assert wants_login["http"]["status"] == 401 and "manifests" not in wants_login, wants_login
        closed = find("--registry", f"127.0.0.1:{free_port()}", pushed_ref)["registry"]
        assert closed == {"https": {"status": -1, "reason": "Connection refused"},
                          "http": {"status": -1, "reason": "Connection refused"}}
        # Asked even when the engine is not there.
        gone = find("--registry", registry, pushed_ref, env={"DOCKER_HOST": "tcp://127.0.0.1:%d" % free_port()})
        assert (gone["can_talk_to_docker"], gone["registry"]["http"]["status"]) == (False, 200), gone
    finally:
        docker_client.images.remove(f"{pushed_ref}:{tag}")


@pytest.fixture()
def fresh_repository(docker_client, registry):
    """A repository name no image has yet; every tag made in it is removed from the engine afterwards."""
    repository = f"{registry}/engine-tag-{uuid.uuid4().hex[:8]}"
    yield repository
    for image in docker_client.images.list(name=repository):
        for ref in image.tags:
            if ref.startswith(repository + ":"):   # the image's other names (the base image's) stay
                docker_client.images.remove(ref)


def test_tag_and_push_leave_the_engine_and_the_registry_as_docker_does(docker_client, registry, base_image,
                                                                      fresh_repository):
    image_id = docker_client.images.get(base_image).id
    answer = engine("tag", "--push", image_id, fresh_repository, "1.0", "abc123")
    assert (answer["can_talk_to_docker"], answer["msg"]) == (True, ""), answer
    assert sorted(answer["tags"]) == ["1.0", "abc123"]
    repo_digests = docker_client.images.get(image_id).attrs["RepoDigests"]
    for tag, done in answer["tags"].items():
        assert docker_client.images.get(f"{fresh_repository}:{tag}").id == image_id
        # The digest reported is the one the registry serves and the engine recorded for the push.
        assert done["digest"] == registry_digest(registry, fresh_repository, tag), answer
        assert f"{fresh_repository}@{done['digest']}" in repo_digests

    # Pushed again: the same manifest, and no layer goes up.
    again = engine("tag", "--push", image_id, fresh_repository, "1.0")
    assert again["tags"] == {"1.0": {"digest": answer["tags"]["1.0"]["digest"], "layers_pushed": 0}}, again

    # Without --push the tag is only in the engine.
    local = engine("tag", image_id, fresh_repository, "local-only")
    assert local["tags"] == {"local-only": {"digest": None, "layers_pushed": 0}}, local
    assert docker_client.images.get(f"{fresh_repository}:local-only").id == image_id
    assert registry_digest(registry, fresh_repository, "local-only") is None


def test_a_failed_tag_or_push_is_named_in_the_engine_words(docker_client, base_image, fresh_repository):
    image_id = docker_client.images.get(base_image).id
    closed = f"127.0.0.1:{free_port()}/engine-tag"
    refused = engine("tag", "--push", image_id, closed, "1.0")
    assert refused["msg"].startswith(f"pushing {closed}:1.0 failed: "), refused
    assert "connection refused" in refused["msg"], refused
    assert refused["tags"] == {}
    docker_client.images.remove(f"{closed}:1.0")

    missing = engine("tag", "sha256:" + "0" * 64, fresh_repository, "1.0")
    assert missing["tags"] == {}
    assert missing["msg"] == f"the engine answered HTTP 404 to POST /images/sha256:{'0' * 64}/tag: No such image: sha256:{'0' * 64}"
    assert engine("tag", image_id, "127.0.0.1/x", "1.0", env={"DOCKER_HOST": "ssh://docker@example.invalid"})["unsupported"]


# A context whose .dockerignore uses what Docker's documentation of the file shows: a comment, `*` and `**`, a
# directory, an exception (!) inside an excluded directory, and the Dockerfile itself (sent all the same).
IGNORE_CASES = {
    ".dockerignore": "# not a pattern\n*.log\n**/README.md\nskip\nlogs\n!logs/keep.log\nDockerfile\ntemp?\n",
    "Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
    "a.txt": "a", "debug.log": "x", "README.md": "x", "docs/README.md": "x", "docs/guide.md": "g",
    "skip/z.txt": "x", "logs/keep.log": "k", "logs/other.log": "x", "temp1": "x", "temp12": "t", "sub/deep/b.js": "b",
}


def files_in(docker_client, image):
    """path -> (mode, uid, gid, size) of what the image has under /ctx (exported from a container never started)."""
    container = docker_client.containers.create(image, command=["/none"])
    try:
        with tarfile.open(fileobj=io.BytesIO(b"".join(container.export())), mode="r|") as tar:
            return {m.name: (m.mode, m.uid, m.gid, m.size) for m in tar if m.name.startswith("ctx/") and not m.isdir()}
    finally:
        container.remove()


def test_build_sends_the_context_docker_build_sends(tmp_path, docker_client, registry, fresh_repository):
    app = tmp_path / "app"
    for rel, content in IGNORE_CASES.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(content)
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    (app / "link").symlink_to("a.txt")
    subprocess.run(["docker", "build", "-q", "-t", f"{fresh_repository}:cli", str(app)], check=True, capture_output=True,
                   env=dict(os.environ, DOCKER_BUILDKIT="0"))

    answer = engine("build", "--push", str(app), fresh_repository, "script", "1.0", "abc123")
    assert (answer["can_talk_to_docker"], answer["msg"]) == (True, ""), answer
    built = answer["build"]
    assert built["built"] and built["id"] == docker_client.images.get(f"{fresh_repository}:script").id, answer
    sent = files_in(docker_client, f"{fresh_repository}:script")
    assert sent == files_in(docker_client, f"{fresh_repository}:cli")
    # The Dockerfile is sent (the build reads it) and, as .dockerignore lists it, left out of COPY by the engine.
    assert sorted(sent) == ["ctx/.dockerignore", "ctx/a.txt", "ctx/docs/guide.md", "ctx/link",
                            "ctx/logs/keep.log", "ctx/run.sh", "ctx/sub/deep/b.js", "ctx/temp12"]
    # The digest of what was sent is the one `inputs` names the image after.
    assert built["sha256"] == engine("inputs", str(app), "Dockerfile", "--no-git")["sha256"]
    assert built["digest"] == registry_digest(registry, fresh_repository, "script"), answer
    assert built["layers_pushed"] > 0
    # The more tags name the build, in the engine and in the registry, as `tag --push` leaves them.
    assert sorted(answer["tags"]) == ["1.0", "abc123"], answer
    for tag, done in answer["tags"].items():
        assert docker_client.images.get(f"{fresh_repository}:{tag}").id == built["id"]
        assert done == {"digest": built["digest"], "layers_pushed": 0}, answer
        assert registry_digest(registry, fresh_repository, tag) == built["digest"]

    # The engine has the tag: nothing is built again, and the registry has every layer.
    again = engine("build", "--push", str(app), fresh_repository, "script", "1.0")
    assert again["build"] == dict(built, built=False, sha256="", layers_pushed=0), again
    assert again["tags"] == {"1.0": answer["tags"]["1.0"]}, again


def test_a_failed_build_names_its_step_and_what_it_printed(tmp_path, docker_client, base_image, fresh_repository):
    containers = {c.id for c in docker_client.containers.list(all=True)}
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo started && ls /no-such-dir\n")
    answer = engine("build", "--args", json.dumps({"BASE_IMAGE": base_image}), str(app), fresh_repository, "bad", "1.0")
    assert answer["msg"].startswith(f"the build of {fresh_repository}:bad failed: The command "), answer
    built = answer["build"]
    assert (built["built"], built["id"], answer["tags"]) == (False, "", {})
    assert not docker_client.images.list(name=fresh_repository)   # nor its more tags
    assert built["error"].endswith("returned a non-zero code: 2"), answer
    assert built["failed_step"][0] == "Step 3/3 : RUN echo started && ls /no-such-dir", answer
    assert "started" in built["failed_step"][1:], answer
    # What the step wrote to stderr, without the colour the engine adds to it.
    assert any("ls: cannot access '/no-such-dir'" in line for line in built["failed_step"][1:]), answer
    assert not any("\x1b" in line for line in built["failed_step"]), answer
    # No container of the failed step is left behind.
    assert {c.id for c in docker_client.containers.list(all=True)} == containers


def test_an_engine_that_is_not_there_is_named_with_the_reason(tmp_path):
    missing = find("x", env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    refused = find("x", env={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"})
    assert (missing["can_talk_to_docker"], missing["msg"]) == (False, "No such file or directory")
    assert (refused["can_talk_to_docker"], refused["msg"]) == (False, "Connection refused")
    assert find("x", env={"DOCKER_HOST": "ssh://docker@example.invalid"})["unsupported"] is True


# The same engine behind TLS that checks the client's certificate, as minikube's engine does.

def key_and_cert(name, issuer=None, issuer_key=None, ca=False, server=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(issuer_key or key, hashes.SHA256())


def write(directory, name, key=None, cert=None):
    path = directory / name
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) if cert else key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path)


def pipe(source, sink):
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


@pytest.fixture()
def tls_engine(tmp_path):
    """tcp://127.0.0.1:PORT: TLS with a client certificate required, in front of the real dockerd's socket.
    Returns (port, cert_path with ca.pem/cert.pem/key.pem for the client, other_ca.pem of an unrelated CA)."""
    ca_key, ca = key_and_cert("kubedev test CA", ca=True)
    server_key, server = key_and_cert("127.0.0.1", ca, ca_key, server=True)
    client_key, client = key_and_cert("kubedev client", ca, ca_key)
    _, other_ca = key_and_cert("another CA", ca=True)
    certs = tmp_path / "certs"
    certs.mkdir()
    write(certs, "ca.pem", cert=ca)
    write(certs, "cert.pem", cert=client)
    write(certs, "key.pem", key=client_key)
    other = tmp_path / "other"
    other.mkdir()
    write(other, "ca.pem", cert=other_ca)
    write(other, "cert.pem", cert=client)
    write(other, "key.pem", key=client_key)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(write(tmp_path, "server.pem", cert=server), write(tmp_path, "server-key.pem", key=server_key))
    context.load_verify_locations(str(certs / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                tls = context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                continue
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(SOCKET)
            threading.Thread(target=pipe, args=(tls, engine), daemon=True).start()
            threading.Thread(target=pipe, args=(engine, tls), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield port, certs, other
    stop.set()
    listener.close()


def test_answers_over_tls_with_client_certificates_as_over_the_socket(tls_engine, base_image):
    port, certs, _ = tls_engine
    env = {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    over_tls = find("--base", base_image, "x", env=env)
    assert listed(over_tls) == listed(find("--base", base_image, "x", env={"DOCKER_HOST": "unix://" + SOCKET}))
    assert base_image in listed(over_tls)


def test_an_engine_certificate_from_another_ca_is_refused(tls_engine):
    port, _, other = tls_engine
    answer = find("x", env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(other)})
    assert answer["can_talk_to_docker"] is False
    assert "CERTIFICATE_VERIFY_FAILED" in answer["msg"], answer
