"""kubedev.devloop.image_build on the real dockerd and registries, through real ansible-playbook runs: it answers as
`docker image inspect` does over the engine's unix socket and behind TLS with client certificates (minikube's
docker-env), refuses an engine certificate from another CA and names an engine that is not there; builds, pushes
and tags once and then reports nothing to do; pushes to a registry that wants a login without the password reaching
any output; reports the build in check mode without doing it; and asks a registry over https with its certificate
checked unless the engine itself treats it as insecure."""

import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import threading
import urllib.request
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collection_module_utils import import_module_utils
from conftest import free_port, pipe
from test_set_image_support import parse_task_result, run_playbook, task_playbook

pytestmark = pytest.mark.integration

SOCKET = "/var/run/docker.sock"
ROOT_APP = __import__("pathlib").Path(__file__).resolve().parents[2] / "sample_app"


def image_build(tmp_path, args, *flags, env=None):
    """One image_build task; returns (result, everything printed)."""
    playbook = task_playbook(tmp_path, "kubedev.devloop.image_build", args, name="ib-%s.yml" % uuid.uuid4().hex[:6])
    proc = run_playbook(playbook, *flags, check=False, env=dict({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
                                                                **(env or {})))
    try:
        return parse_task_result(proc.stdout[proc.stdout.index("{\n"):]), proc.stdout + proc.stderr
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no task result (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


@pytest.fixture()
def app(tmp_path):
    """A copy of the sample app with a marker of its own: its content tag is one no engine has yet."""
    target = tmp_path / "app"
    shutil.copytree(ROOT_APP, target, ignore=shutil.ignore_patterns("node_modules"))
    (target / "marker.js").write_text("// %s\n" % uuid.uuid4().hex)
    return target


@pytest.fixture()
def repository_name(docker_client):
    name = "ib-" + uuid.uuid4().hex[:8]
    yield name
    for image in docker_client.images.list():
        for ref in image.tags:
            if "/%s:" % name in ref or ref.startswith(name + ":"):
                docker_client.images.remove(ref)


def args_for(app, name, base_image, **extra):
    args = {"app_dir": str(app), "name": name, "base_image": base_image, "tag_git_commit": False}
    args.update(extra)
    return args


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




def engine_env(port, certs):
    return {"DOCKER_HOST": "tcp://127.0.0.1:%d" % port, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}


def test_builds_pushes_and_tags_once_then_has_nothing_to_do(tmp_path, app, repository_name, registry, docker_client,
                                                           base_image):
    args = args_for(app, repository_name, base_image, registry=registry)
    planned, _ = image_build(tmp_path, dict(args, state="planned"))
    assert planned["changed"] is False and planned["image_up_to_date"] is False and planned["image_id"] == ""

    built, _ = image_build(tmp_path, args)
    ref = built["image_ref"]
    assert built["changed"] is True and ref == planned["image_ref"], built
    assert built["actions"][:2] == ["built " + ref, "pushed " + ref], built["actions"]
    # As docker image inspect and the registry's API say.
    assert built["image_id"] == docker_client.images.get(ref).id
    version_ref = "%s/%s:0.0.1" % (registry, repository_name)
    assert docker_client.images.get(version_ref).id == built["image_id"]
    request = urllib.request.Request("http://%s/v2/%s/manifests/0.0.1" % (registry, repository_name), method="HEAD",
                                     headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    again, _ = image_build(tmp_path, args)
    assert again["changed"] is False and again["actions"] == [] and again["image_up_to_date"] is True


def test_check_mode_reports_the_build_without_doing_it(tmp_path, app, repository_name, docker_client, base_image):
    result, _ = image_build(tmp_path, args_for(app, repository_name, base_image), "--check", "--diff")
    assert result["changed"] is True
    assert result["actions"] == ["build %s" % result["image_ref"], "tag %s:0.0.1" % repository_name]
    assert result["diff"]["before"] == {result["image_ref"]: None, repository_name + ":0.0.1": None}
    assert docker_client.images.list(name=repository_name) == []


def test_answers_over_tls_with_client_certificates_as_over_the_socket(tmp_path, tls_engine, app, repository_name,
                                                                      base_image):
    port, certs, _ = tls_engine
    args = args_for(app, repository_name, base_image)
    over_socket, _ = image_build(tmp_path, dict(args, docker_env={"DOCKER_HOST": "unix://" + SOCKET}))
    over_tls, _ = image_build(tmp_path, dict(args, docker_env=engine_env(port, certs), state="planned"))
    assert over_tls["image_id"] == over_socket["image_id"] != ""
    assert over_tls["image_up_to_date"] is True


def test_an_engine_certificate_from_another_ca_is_refused(tmp_path, tls_engine, app, base_image):
    port, _, other = tls_engine
    result, _ = image_build(tmp_path, dict(args_for(app, "x", base_image), docker_env=engine_env(port, other),
                                           var_names={"docker_env": "kubedev_docker_env"}))
    assert result["failed"] is True and result["changed"] is False
    assert "The Docker engine at kubedev_docker_env.DOCKER_HOST=tcp://127.0.0.1:%d does not answer" % port in result["msg"]
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"], result["msg"]


@pytest.mark.parametrize("host, reason", [("unix:///nonexistent/docker.sock", "No such file or directory"),
                                          ("tcp://127.0.0.1:PORT", "Connection refused")])
def test_an_engine_that_is_not_there_is_named_with_the_reason(tmp_path, app, host, reason):
    host = host.replace("PORT", str(free_port()))
    result, _ = image_build(tmp_path, dict(args_for(app, "x", ""), state="planned"), env={"DOCKER_HOST": host})
    assert result["msg"] == ("The Docker engine at DOCKER_HOST=%s does not answer (%s). Expected a running engine: "
                             "start Docker (the tools role does), or point DOCKER_HOST at one that runs." % (host, reason))


def test_a_registry_that_wants_a_login_gets_it_and_the_password_is_never_shown(tmp_path, app, repository_name,
                                                                              auth_registry, base_image):
    args = args_for(app, repository_name, base_image, registry=auth_registry["host"])
    refused, _ = image_build(tmp_path, args)
    assert "the registry wants a login" in refused["msg"]

    login = dict(args, registry_username=auth_registry["username"], registry_password=auth_registry["password"])
    result, output = image_build(tmp_path, login, "-vvv")
    assert result["changed"] is True and "pushed " + result["image_ref"] in result["actions"], result
    assert auth_registry["password"] not in output
    again, output = image_build(tmp_path, login, "-vvv")
    assert again["changed"] is False and again["image_up_to_date"] is True, again
    assert auth_registry["password"] not in output

    wrong, output = image_build(tmp_path, dict(login, registry_password="not-" + auth_registry["password"]))
    assert "refused the login of registry_username=%s" % auth_registry["username"] in wrong["msg"], wrong["msg"]
    assert "401 Unauthorized" in wrong["msg"] and auth_registry["password"] not in output


@pytest.fixture()
def impostor_registry(tmp_path):
    """A registry API on 127.0.0.2 over TLS with a self-signed certificate: insecure for the engine by its default
    CIDR 127.0.0.0/8, so answered without the certificate checked; named by a host name the engine does not treat
    as insecure, it must not be believed."""
    key, cert = key_and_cert("127.0.0.2", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(write(tmp_path, "r.pem", cert=cert), write(tmp_path, "r-key.pem", key=key))
    listener = socket.create_server(("127.0.0.2", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                tls = context.wrap_socket(conn, server_side=True)
                tls.recv(65536)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDocker-Distribution-Api-Version: registry/2.0"
                            b"\r\n\r\n{}")
                tls.close()
            except (OSError, ssl.SSLError):
                continue

    threading.Thread(target=serve, daemon=True).start()
    yield port
    stop.set()
    listener.close()


def test_a_registry_is_believed_over_unchecked_tls_only_where_the_engine_says_it_is_insecure(tmp_path, app,
                                                                                            impostor_registry):
    engine, registry = import_module_utils("_docker.engine", "_docker.registry")
    Registry, is_insecure = registry.Registry, registry.is_insecure

    info = engine.Engine(engine.EngineSettings({})).info()
    insecure_host = "127.0.0.2:%d" % impostor_registry
    assert is_insecure(insecure_host, info) is True
    assert Registry(insecure_host, True).probe()["https"] == {"status": 200, "reason": ""}
    # The same server, where the engine would verify it: its certificate is refused, so it answers nothing.
    secure = Registry(insecure_host, is_insecure("localhost.invalid:1", info)).probe()
    assert secure["https"]["status"] == -1 and "CERTIFICATE_VERIFY_FAILED" in secure["https"]["reason"], secure
    assert secure["http"] is None


def test_run_steps_reach_the_hosts_loopback_only_when_asked(tmp_path, repository_name, base_image):
    """The engine's bridge is the default: a RUN step cannot reach a service on the host's 127.0.0.1 (or inside the
    minikube node); build_network=host is the explicit way to let it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threading.Thread(target=lambda: [listener.accept()[0].close() for _ in range(4)], daemon=True).start()
    app = tmp_path / "probe"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": repository_name, "version": "1.0.0"}))
    (app / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN node -e \"require('net').connect(%d, '127.0.0.1')"
        ".on('connect', () => process.exit(0)).on('error', () => process.exit(3))\"\n" % port)
    try:
        bridged, _ = image_build(tmp_path, {"app_dir": str(app), "base_image": base_image, "tag_git_commit": False})
        assert bridged["failed"] is True and "returned a non-zero code: 3" in bridged["msg"], bridged
        hosted, _ = image_build(tmp_path, {"app_dir": str(app), "base_image": base_image, "tag_git_commit": False,
                                           "build_network": "host"})
        assert hosted["changed"] is True and not hosted.get("failed"), hosted
    finally:
        listener.close()


def test_pushing_through_a_remote_engine_is_idempotent(tmp_path, tls_engine, app, repository_name, registry,
                                                        base_image):
    """minikube's engine pushes from its VM, so the registry is not asked from here: a second run pushes again and
    only a layer that went up would count as a change."""
    port, certs, _ = tls_engine
    args = args_for(app, repository_name, base_image, registry=registry, docker_env=engine_env(port, certs))
    first, _ = image_build(tmp_path, args)
    assert first["changed"] is True and "pushed " + first["image_ref"] in first["actions"], first
    again, _ = image_build(tmp_path, args)
    assert again["changed"] is False and again["actions"] == [], again
