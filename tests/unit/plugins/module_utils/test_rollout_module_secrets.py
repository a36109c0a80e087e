"""kubeconfig (a dict) and proxy are no_log: their secrets never reach the result, the invocation or the
log; the rest of them (server, names, "v1") stays readable in messages. Real AnsibleModule runs."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import AUTH_ARG_SPEC
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "main",
    "clusters": [{"name": "dev", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "deployer", "user": {"token": "TOKEN-123", "as": "impersonated-ann"}}],
    "contexts": [{"name": "main", "context": {"cluster": "dev", "user": "deployer", "namespace": "default"}}],
}
PROXY = "http://ann:PROXY-PW@127.0.0.1:3128"


def run(capsys, args, task):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            run_task(rollout_module(), [], task)
    return capsys.readouterr().out


def test_the_options_are_no_log():
    assert AUTH_ARG_SPEC["kubeconfig"]["no_log"] is True
    assert AUTH_ARG_SPEC["proxy"]["no_log"] is True


def test_only_the_secrets_are_masked(capsys):
    def task(client, params):
        return {"changed": False, "failed": True, "namespace": params["namespace"],
                "msg": "at %s in namespace %s as %s via %s, token %s" % (
                    client.host, params["namespace"], params["kubeconfig"]["users"][0]["user"]["as"], params["proxy"],
                    params["kubeconfig"]["users"][0]["user"]["token"])}

    out = run(capsys, {"name": ["web"], "kubeconfig": KUBECONFIG, "proxy": PROXY}, task)
    assert "TOKEN-123" not in out and "PROXY-PW" not in out and "impersonated-ann" not in out
    result = json.loads(out)
    assert result["namespace"] == "default"
    assert result["msg"] == ("at https://127.0.0.1:1 in namespace default as ******** via "
                             "http://ann:********@127.0.0.1:3128, token ********")
    invocation = result["invocation"]["module_args"]
    assert invocation["kubeconfig"]["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert invocation["kubeconfig"]["users"][0]["user"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_a_kubeconfig_path_stays_readable(capsys, tmp_path):
    path = str(tmp_path / "missing-kubeconfig")
    result = json.loads(run(capsys, {"name": ["web"], "kubeconfig": path}, lambda c, p: {}))
    assert result["msg"] == "kubeconfig %s does not exist" % path
