"""Issue 26 (8): who runs minikube when site.yml runs as root is decided by the playbook, from every variable of
the run (extra vars, -e @file, the inventory), no longer by scripts/site reading its command line. Real
ansible-playbook runs of site.yml's own play (taken from playbooks/site.yml as it is) in check mode, as root (the
case this is about), followed by a task that shows what the roles would get: minikube_user and tools_docker_users
from playbooks/vars/roles.yml. Check mode: the login user `kubedev` is never really created here."""

import json
import os
import re

import pytest
import yaml

from conftest import ROOT, run_playbook

PLAY = "Choose who runs minikube when this run is root's"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the choice is made only for a run as root")


@pytest.fixture()
def playbook(tmp_path):
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    play = next(p for p in plays if p.get("name") == PLAY)
    play["vars_files"] = [str(ROOT / "playbooks" / f) for f in play["vars_files"]]
    for task in play["tasks"]:
        if "ansible.builtin.include_tasks" in task:
            task["ansible.builtin.include_tasks"] = str(ROOT / "playbooks" / task["ansible.builtin.include_tasks"])
    shown = {"name": "Show what the roles get", "hosts": play["hosts"], "gather_facts": False,
             "vars_files": play["vars_files"],
             "tasks": [{"name": "Show", "ansible.builtin.debug": {
                 "msg": "ROLES {{ {'minikube_user': minikube_user, 'tools_docker_users': tools_docker_users} | to_json }} END"}}]}
    path = tmp_path / "choose.yml"
    path.write_text(yaml.safe_dump([play, shown], sort_keys=False))
    return path


def run(playbook, *args, sudo_user=None):
    # empty counts as unset (run_playbook starts from this process's environment, which may have one)
    proc = run_playbook(playbook, "--check", *args, check=False, env={"SUDO_USER": sudo_user or ""})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    flat = " ".join(output.split())
    roles = json.loads(re.search(r"ROLES (\{.*?\}) END", flat).group(1))
    return roles, flat


def vars_file(tmp_path, **values):
    path = tmp_path / "vars.yml"
    path.write_text(yaml.safe_dump(values))
    return "@" + str(path)


def test_a_vars_file_with_the_existing_provider_gets_no_login_user(playbook, tmp_path):
    roles, flat = run(playbook, "-e", vars_file(tmp_path, kubedev_cluster_provider="existing"), sudo_user="daemon")
    assert roles == {"minikube_user": "", "tools_docker_users": []}, flat
    assert "minikube runs as" not in flat, flat


def test_a_vars_file_naming_the_user_wins(playbook, tmp_path):
    roles, flat = run(playbook, "-e", vars_file(tmp_path, kubedev_user="nobody"), sudo_user="daemon")
    assert roles == {"minikube_user": "nobody", "tools_docker_users": ["nobody"]}, flat


def test_explicit_minikube_provider_as_root_takes_the_sudo_user(playbook):
    roles, flat = run(playbook, "-e", "kubedev_cluster_provider=minikube", sudo_user="daemon")
    assert roles == {"minikube_user": "daemon", "tools_docker_users": ["daemon"]}, flat
    assert "minikube runs as daemon (who ran sudo)" in flat, flat


def test_without_sudo_the_login_user_kubedev(playbook):
    roles, flat = run(playbook)
    assert roles == {"minikube_user": "kubedev", "tools_docker_users": ["kubedev"]}, flat
    assert "minikube runs as kubedev (a login user" in flat, flat
    if not any(line.startswith("kubedev:") for line in open("/etc/passwd")):
        assert re.search(r"TASK \[Create the login user kubedev\] \*+ changed:", flat), flat


def test_the_none_driver_runs_as_root(playbook):
    roles, flat = run(playbook, "-e", "minikube_driver=none", sudo_user="daemon")
    assert roles == {"minikube_user": "", "tools_docker_users": []}, flat
