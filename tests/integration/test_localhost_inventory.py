"""inventory/localhost.yml's become method: su for root (who needs no password and may have no sudo), sudo for
anyone else, worked out by kubedev.devloop.controller_uid without starting a process (Ansible reads the variable
for every task). Real ansible-playbook runs with the project's ansible.cfg and inventory, as root and as nobody."""

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, VENV_BIN

PLAYBOOK = """\
- name: Show what the inventory picks
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Print the become method and the controller's user ID
      ansible.builtin.debug:
        msg: "method={{ ansible_become_method }} uid={{ lookup('kubedev.devloop.controller_uid') }}"
"""


@pytest.fixture
def shared_dir():
    """A directory another user can read the playbook from and write Ansible's temporary files to."""
    path = tempfile.mkdtemp(prefix="kubedev-inventory-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as(user, playbook_text, shared_dir):
    """ansible-playbook as user, with an `id` first on PATH that fails: the inventory must start no process."""
    fake_bin = os.path.join(shared_dir, "bin")
    os.makedirs(fake_bin, exist_ok=True)
    with open(os.path.join(fake_bin, "id"), "w") as f:
        f.write("#!/bin/sh\necho 'id was run' >&2\nexit 1\n")
    os.chmod(os.path.join(fake_bin, "id"), 0o755)
    playbook = os.path.join(shared_dir, "playbook.yml")
    with open(playbook, "w") as f:
        f.write(playbook_text)
    os.chmod(playbook, 0o644)
    path = f"{fake_bin}:{os.environ['PATH']}"
    cmd = [str(VENV_BIN / "ansible-playbook"), playbook]
    if user != pwd.getpwuid(os.getuid()).pw_name:
        cmd = ["runuser", "-u", user, "--", "env", f"HOME={shared_dir}", f"PATH={path}", *cmd]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", HOME=shared_dir, PATH=path)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def id_u(user):
    return subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("user, method", [("root", "ansible.builtin.su"), ("nobody", "ansible.builtin.sudo")])
def test_become_method_follows_the_controller_user(user, method, shared_dir):
    assert os.getuid() == 0, "this test runs ansible-playbook as root and as nobody: run the tests as root"
    proc = run_as(user, PLAYBOOK, shared_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"method={method} uid={id_u(user)}" in proc.stdout, proc.stdout


def test_controller_uid_refuses_terms(shared_dir):
    proc = run_as("root", PLAYBOOK.replace("controller_uid')", "controller_uid', 'root')"), shared_dir)
    assert proc.returncode != 0
    assert "kubedev.devloop.controller_uid takes no terms or options" in proc.stdout + proc.stderr
