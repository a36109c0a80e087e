"""No credential reaches a module's output, whatever fails: a token that is no valid header value, a proxy URL
that does not parse, an exception nobody expected that quotes a credential. Real AnsibleModule runs; the
credentials come from kubeconfig files, which Ansible knows nothing about, and from no_log options."""

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task

TOKEN = "tok-S3CRET-0123456789"


def kubeconfig_file(tmp_path, user, cluster_extra=None):
    cluster = {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}
    cluster.update(cluster_extra or {})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "dev", "cluster": cluster}],
        "users": [{"name": "deployer", "user": user}],
        "contexts": [{"name": "main", "context": {"cluster": "dev", "user": "deployer"}}],
    }))
    return str(path)


def run(capsys, args, task=lambda client, params: {"changed": False}):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            run_task(rollout_module(), [], task)
    out = capsys.readouterr().out
    return out, json.loads(out)


def request_something(client, params):
    client.request("GET", "/api", credentials_action())
    return {"changed": False}


def credentials_action():
    from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import Action
    return Action("get", "namespaces")


@pytest.mark.parametrize("token", [TOKEN + "\n", TOKEN + "\r", "tok\x00" + TOKEN])
def test_a_token_with_a_control_character_is_refused_unseen(capsys, tmp_path, token):
    out, result = run(capsys, {"name": ["web"], "kubeconfig": kubeconfig_file(tmp_path, {"token": token})},
                      request_something)
    assert result["failed"] is True
    assert 'user "deployer": token contains a control character' in result["msg"]
    assert TOKEN not in out


def test_a_token_file_is_trimmed_as_client_go_does_and_never_shown(capsys, tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")

    def fail_quoting_the_header(client, params):
        raise ValueError("Invalid header value %r" % client._headers()["Authorization"].encode())

    out, result = run(capsys, {"name": ["web"], "kubeconfig": kubeconfig_file(tmp_path, {"tokenFile": "token"})},
                      fail_quoting_the_header)
    assert result["msg"] == "unexpected error (ValueError): Invalid header value b'********'"
    assert TOKEN not in out


@pytest.mark.parametrize("where", ["option", "kubeconfig"])
@pytest.mark.parametrize("proxy", ["http://alice:S3CRET@proxy:80800", "http://alice:S3CRET@[::1:80",
                                   "http://alice:S3CRET@proxy:8080/a b"])
def test_a_proxy_url_that_does_not_parse_is_a_clear_error_without_its_password(capsys, tmp_path, where, proxy):
    if where == "option":
        args = {"name": ["web"], "kubeconfig": kubeconfig_file(tmp_path, {"token": TOKEN}), "proxy": proxy}
    else:
        args = {"name": ["web"], "kubeconfig": kubeconfig_file(tmp_path, {"token": TOKEN}, {"proxy-url": proxy})}
    out, result = run(capsys, args, request_something)
    assert result["failed"] is True
    assert "proxy" in result["msg"] and "cannot be parsed" in result["msg"] or "control character" in result["msg"]
    assert "S3CRET" not in out and TOKEN not in out
    assert "unexpected error" not in result["msg"]


def test_an_unexpected_exception_is_masked_everywhere_it_goes(capsys, tmp_path):
    def fail(client, params):
        raise RuntimeError("boom with %s and %r" % (TOKEN, (TOKEN + "\n").encode()))

    out, result = run(capsys, {"name": ["web"], "kubeconfig": kubeconfig_file(tmp_path, {"token": TOKEN})}, fail)
    assert result["msg"] == "unexpected error (RuntimeError): boom with ******** and b'********\\n'"
    assert TOKEN not in out


def test_basic_auth_is_masked_in_every_form(capsys, tmp_path):
    import base64

    password = "pa ss/w:rd"

    def fail(client, params):
        header = client._headers()["Authorization"]
        raise RuntimeError("%s | %s | %r" % (header, password, password.encode()))

    out, result = run(capsys, {"name": ["web"], "kubeconfig": kubeconfig_file(
        tmp_path, {"username": "ann", "password": password})}, fail)
    assert result["msg"] == "unexpected error (RuntimeError): Basic ******** | ******** | b'********'"
    assert base64.b64encode(("ann:" + password).encode()).decode() not in out
    assert password not in out


def test_the_api_key_option_with_a_line_break_is_refused(capsys, tmp_path):
    out, result = run(capsys, {"name": ["web"], "host": "https://127.0.0.1:1", "api_key": TOKEN + "\n"},
                      request_something)
    assert result["msg"] == "api_key contains a control character (a line break at its end?); it cannot be sent as a header"
    assert TOKEN not in out


def test_redact_masks_the_quoted_forms_of_a_secret():
    credentials.remember("a b\n")
    assert credentials.redact("x 'a b\\n' a%20b%0A a+b%0A a b") == "x '********' ******** ******** ********"
