"""The module plumbing both modules share: real AnsibleModule runs with plain argument data, no cluster.

A connection by host and api_key builds a client without contacting anything, so the task function
here decides the outcome; what is checked is how the module reports it.
"""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_module import rollout_module, run_task

OFFLINE = {"host": "https://127.0.0.1:1", "api_key": "token", "name": ["web"]}


def finish(capsys, args, problems=(), task=None, **options):
    """Run the module with args; returns (exit code, the JSON result) and the params the task saw."""
    seen = []

    def recording_task(client, params):
        seen.append(params)
        return task(client, params)

    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            module = rollout_module({"extra": {"type": "str"}})
            run_task(module, list(problems), recording_task, **options)
    return exited.value.code, json.loads(capsys.readouterr().out), seen


def test_input_problems_fail_before_connecting(capsys):
    code, result, seen = finish(capsys, dict(OFFLINE, host=None, kubeconfig="/nonexistent"),
                                problems=["one", "two"], task=lambda c, p: {}, problems_prefix="nothing: ")
    assert code == 1
    assert result["msg"] == "nothing: one; two"
    assert result["changed"] is False
    assert seen == []


def test_connection_errors_fail_unchanged(capsys):
    code, result, seen = finish(capsys, dict(OFFLINE, host=None, kubeconfig="/nonexistent/kubeconfig"),
                                task=lambda c, p: {"changed": True})
    assert code == 1
    assert result["msg"] == "kubeconfig /nonexistent/kubeconfig does not exist"
    assert result["changed"] is False
    assert seen == []


def test_success_exits_with_the_task_result_and_default_namespace(capsys):
    code, result, seen = finish(capsys, dict(OFFLINE, extra="x"), task=lambda c, p: {"changed": True, "targets": [1]})
    assert code == 0
    assert result["changed"] is True and result["targets"] == [1]
    assert "failed" not in result
    assert seen[0]["namespace"] == "default" and seen[0]["extra"] == "x" and seen[0]["kind"] == "Deployment"


def test_a_failed_result_fails_the_task_with_everything_else_kept(capsys):
    code, result, _seen = finish(capsys, OFFLINE,
                                 task=lambda c, p: {"changed": True, "failed": True, "msg": "bad", "targets": [2]})
    assert code == 1
    assert (result["failed"], result["msg"], result["changed"], result["targets"]) == (True, "bad", True, [2])


@pytest.mark.parametrize("diff_mode", [False, True])
def test_diff_only_in_diff_mode(capsys, diff_mode):
    code, result, _seen = finish(capsys, dict(OFFLINE, _ansible_diff=diff_mode),
                                 task=lambda c, p: {"changed": False, "diff": {"before": {}, "after": {}}})
    assert code == 0
    assert ("diff" in result) is diff_mode


def test_api_server_warnings_become_ansible_warnings_even_on_failure(capsys):
    def task(client, params):
        client.warnings.append("deprecated thing")
        return {"changed": False, "failed": True, "msg": "bad"}

    code, result, _seen = finish(capsys, OFFLINE, task=task)
    assert code == 1
    assert len(result["warnings"]) == 1   # ansible-core 2.19 wraps each warning's text in a summary
    assert "API server warning: deprecated thing" in json.dumps(result["warnings"])


def test_targets_by_name_and_label_selector_exclude_each_other(capsys):
    code, result, seen = finish(capsys, dict(OFFLINE, label_selectors=["app=web"]), task=lambda c, p: {})
    assert code == 1
    assert "mutually exclusive" in result["msg"]
    assert seen == []
