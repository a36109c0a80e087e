"""Secrets stay secret in real ansible-playbook runs (at -vvv): a kubeconfig given as a dict and a proxy URL with
credentials; an unsupported proxy scheme is a clear error, not a traceback."""

import base64

import pytest
import yaml

from test_set_image_connection import ConnectProxy, _Tunnel, cluster_of
from test_set_image_support import APP, create, deployment, images, json_env, read, run_playbook, task_playbook

pytestmark = pytest.mark.integration


def run_verbose(tmp_path, kubeconfig, args):
    """One set_image task at -vvv; returns (everything ansible printed, the task result)."""
    import json

    playbook = task_playbook(tmp_path, "kubedev.devloop.set_image", args)
    proc = run_playbook(playbook, "-vvv", check=False, env=json_env(kubeconfig))
    result = json.loads(proc.stdout[proc.stdout.index("{\n"):])["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.stdout + proc.stderr, result


def test_kubeconfig_dict_secrets_never_appear(tmp_path, kubeconfig, apps_v1, namespace):
    config, server = cluster_of(kubeconfig)
    user = config["users"][0]["user"]
    key = base64.b64decode(user["client-key-data"]).decode()
    create(apps_v1, kubeconfig, namespace, deployment("web"))

    output, result = run_verbose(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": config})

    assert result["targets"][0]["status"] == "complete", result
    for secret in (user["client-key-data"], user["client-certificate-data"], key.splitlines()[1]):
        assert secret not in output
    # not masked: what is no secret stays readable
    assert result["invocation"]["module_args"]["kubeconfig"]["clusters"][0]["cluster"]["server"] == server
    assert result["targets"][0]["namespace"] == namespace
    assert images(read(apps_v1, namespace, "Deployment", "web")) == {"web": APP + ":2"}


class _RecordingTunnel(_Tunnel):
    """The test proxy, also recording each CONNECT's Proxy-Authorization header."""

    def handle(self):
        peek = self.rfile.peek(4096).decode(errors="replace")
        for line in peek.split("\r\n"):
            if line.lower().startswith("proxy-authorization:"):
                self.server.authorizations.append(line.split(":", 1)[1].strip())
        super(_RecordingTunnel, self).handle()


@pytest.fixture()
def recording_proxy():
    import threading

    server = ConnectProxy()
    server.RequestHandlerClass = _RecordingTunnel
    server.authorizations = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_proxy_credentials_are_sent_to_the_proxy_and_never_shown(tmp_path, kubeconfig, apps_v1, namespace,
                                                                 recording_proxy):
    create(apps_v1, kubeconfig, namespace, deployment("web"))
    password = "pr0xy-S3CRET"
    proxy = "http://deployer:%s@127.0.0.1:%d" % (password, recording_proxy.server_address[1])

    output, result = run_verbose(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "proxy": proxy})

    assert result["targets"][0]["status"] == "complete", result
    assert recording_proxy.tunnels, "the proxy was not used"
    expected = "Basic " + base64.b64encode(("deployer:" + password).encode()).decode()
    assert set(recording_proxy.authorizations) == {expected}
    assert password not in output and expected not in output


@pytest.mark.parametrize("proxy,problem", [
    ("socks5://user:TOPSECRET@127.0.0.1:1080", "proxy scheme 'socks5' is not supported (supported: http, https)"),
    ("127.0.0.1:3128", "the proxy URL has no scheme; write it as http://host:port or https://host:port"),
])
def test_unsupported_proxy_is_a_clear_error(tmp_path, kubeconfig, apps_v1, namespace, proxy, problem):
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))
    output, result = run_verbose(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "proxy": proxy})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "proxy option: " + problem
    # a clear message, not a crash: no Python traceback, nothing a crashed module leaves behind
    assert "Traceback (most recent call last)" not in output and "module_stderr" not in result
    assert "TOPSECRET" not in output
    after = read(apps_v1, namespace, "Deployment", "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


def test_kubeconfig_with_an_unsupported_proxy_url_is_a_clear_error(tmp_path, kubeconfig, apps_v1, namespace):
    config = yaml.safe_load(open(kubeconfig))
    config["clusters"][0]["cluster"]["proxy-url"] = "socks5://127.0.0.1:1080"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))
    _output, result = run_verbose(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": str(path)})
    assert result["failed"] is True
    assert result["msg"] == ('kubeconfig %s: cluster "%s" proxy-url: proxy scheme \'socks5\' is not supported '
                             '(supported: http, https)' % (path, config["clusters"][0]["name"]))
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"] == before["metadata"]["generation"]


def plain_output(tmp_path, kubeconfig, args):
    """One set_image task at normal verbosity with the default callback, as a user sees it."""
    playbook = task_playbook(tmp_path, "kubedev.devloop.set_image", args)
    proc = run_playbook(playbook, check=False, env={"K8S_AUTH_KUBECONFIG": kubeconfig})
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("verbosity", [None, "-vvv"])
def test_a_token_ending_in_a_newline_is_refused_as_kubectl_does_and_never_shown(tmp_path, kubeconfig, apps_v1,
                                                                                namespace, verbosity):
    """`token: |` keeps the line break; Go refuses the header, so kubectl fails. So does the module, in its own
    words, with the token nowhere in what Ansible prints (it printed it whole in an 'Invalid header value')."""
    from test_set_image_support import kubectl

    token = "tok3n-" + "S3CRET" * 6
    config = yaml.safe_load(open(kubeconfig))
    config["users"][0]["user"] = {"token": token + "\n"}
    path = tmp_path / "kubeconfig-newline-token"
    path.write_text(yaml.safe_dump(config, default_style="|"))
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"].endswith("\n")
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))

    oracle = kubectl(str(path), "-n", namespace, "get", "deployment", "web", check=False)
    assert oracle.returncode != 0, "kubectl accepted a token with a line break: %s" % oracle.stdout

    args = {"name": "web", "namespace": namespace, "containers": {"web": APP + ":2"}, "kubeconfig": str(path)}
    if verbosity:
        output, result = run_verbose(tmp_path, str(path), args)
        assert result["failed"] is True and result["changed"] is False
        assert result["msg"] == ('kubeconfig %s: user "%s": token contains a control character (a line break at '
                                 'its end, from "token: |"?); kubectl refuses it too'
                                 % (path, config["users"][0]["name"]))
    else:
        rc, output = plain_output(tmp_path, str(path), args)
        assert rc != 0 and "token contains a control character" in output
    assert "S3CRET" not in output
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"] == before["metadata"]["generation"]


def test_a_proxy_url_with_a_bad_port_is_a_clear_error_without_its_password(tmp_path, kubeconfig, apps_v1, namespace):
    before = create(apps_v1, kubeconfig, namespace, deployment("web"))
    output, result = run_verbose(tmp_path, kubeconfig, {
        "name": "web", "namespace": namespace, "containers": {"web": APP + ":2"},
        "proxy": "http://alice:S3CRET@proxy.invalid:80800"})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("proxy option: the proxy URL cannot be parsed (is its port a number from 0 to 65535, "
                             "an IPv6 address in brackets?)")
    assert "S3CRET" not in output and "Traceback (most recent call last)" not in output
    assert read(apps_v1, namespace, "Deployment", "web")["metadata"]["generation"] == before["metadata"]["generation"]
