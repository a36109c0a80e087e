"""Issue 26 (2, 6): the tools role never removes a Docker Engine that nobody asked it to replace. Real
ansible-playbook runs of the role's Docker tasks in check mode against this machine's real dpkg state, which the
test environment gives the distribution's engine (docker.io, containerd, runc: scripts/testenv installs them).
The runs change nothing; the test reads dpkg before and after to show it."""

import json
import re
import subprocess
import textwrap

import pytest

from conftest import ROOT, run_playbook

pytestmark = pytest.mark.integration

DISTRO_ENGINE = ["docker.io", "containerd", "runc"]


def installed(packages):
    """{package: status} from dpkg, for the packages dpkg knows."""
    proc = subprocess.run(["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n", *packages],
                          capture_output=True, text=True)
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line)


@pytest.fixture(scope="module")
def distro_engine():
    state = installed(DISTRO_ENGINE)
    if state.get("docker.io") != "installed":
        pytest.fail(f"this test needs the distribution's docker.io installed (scripts/testenv up): dpkg says {state}")
    return state


def docker_tasks_playbook(tmp_path, role_vars):
    """The tools role with only its Docker tasks (no kubectl/minikube, no service)."""
    playbook = tmp_path / "tools-docker.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: The tools role's Docker tasks
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Include the role
              ansible.builtin.include_role:
                name: kubedev.devloop.tools
              vars: {json.dumps({"tools_install_kubectl": False, "tools_install_minikube": False,
                                  "tools_docker_start": False, **role_vars})}
        """))
    return playbook


def run(playbook, *args):
    proc = run_playbook(playbook, "--check", *args, check=False)
    output = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)
    assert recap, output
    return proc.returncode, int(recap.group(1)), " ".join(output.split()), output


def test_the_role_refuses_to_replace_the_distributions_engine_and_changes_nothing(tmp_path, distro_engine):
    rc, changed, flat, output = run(docker_tasks_playbook(tmp_path, {"tools_docker_source": "docker"}))
    assert rc != 0, f"the role went on to replace docker.io:\n{output}"
    assert changed == 0, f"something changed (or would have) before the refusal:\n{output}"
    assert "set tools_docker_replace=true" in flat, output
    assert "which replace the distribution's" in flat and "docker.io" in flat, output
    assert "Nothing was changed" in flat, output
    # not even the repository or the key was (going to be) added, nor anything removed
    assert "Add Docker's apt repository" not in output, output
    assert "Remove the distribution's Docker packages" not in output, output
    assert installed(DISTRO_ENGINE) == distro_engine


def test_through_the_playbooks_the_message_names_kubedev_docker_replace(tmp_path, distro_engine):
    """provision.yml maps the public variables: the message names the one a user of site.yml sets."""
    rc, changed, flat, output = run(
        ROOT / "playbooks" / "provision.yml",
        "-e", json.dumps({"kubedev_cluster_provider": "existing", "tools_install_kubectl": False,
                          "tools_install_minikube": False, "tools_docker_start": False}))
    assert rc != 0 and changed == 0, output
    assert "set kubedev_docker_replace=true" in flat, output
    assert installed(DISTRO_ENGINE) == distro_engine


def test_keeping_the_installed_engine_changes_nothing(tmp_path, distro_engine):
    """The control, and what scripts/site's offline path asks for: tools_docker_source=installed takes the
    engine as it is (no apt run at all), and so does distro (the same source)."""
    for source in ("installed", "distro"):
        rc, changed, flat, output = run(docker_tasks_playbook(tmp_path, {"tools_docker_source": source}))
        assert rc == 0, output
        assert "set tools_docker_replace=true" not in flat, output
    assert installed(DISTRO_ENGINE) == distro_engine


def test_with_the_explicit_variable_the_role_goes_on_to_the_swap(tmp_path, distro_engine):
    """tools_docker_replace=true gets past the refusal (check mode: the repository would be added, so the swap
    itself waits for a real run). The key URL is a closed port: the run stops at the key download, before the
    repository is added, with docker.io still in place."""
    rc, changed, flat, output = run(docker_tasks_playbook(
        tmp_path, {"tools_docker_source": "docker", "tools_docker_replace": True,
                   "tools_docker_apt_base_url": "http://127.0.0.1:9/linux"}))
    assert "Refuse to replace" in output and "set tools_docker_replace=true" not in flat, output
    assert "http://127.0.0.1:9/linux/debian/gpg" in flat, output
    assert rc != 0 and changed == 0, output
    assert installed(DISTRO_ENGINE) == distro_engine


def test_replacing_is_one_apt_run_that_installs_the_new_and_removes_the_old(tmp_path, distro_engine):
    """Issue 26 (6): the swap never removes first. Its steps, run by the role's own tasks file against this
    machine's real apt (check mode: apt-get --simulate, nothing installed or removed): the download of the new
    packages is a step of its own, before the swap, and the swap is one apt transaction with both the new
    package's install and the old engine's removal. `hello` stands in for Docker's packages (Docker's repository
    is not reachable here)."""
    playbook = tmp_path / "swap.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: The tools role's swap, simulated
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Include the swap
              ansible.builtin.include_role:
                name: kubedev.devloop.tools
                tasks_from: docker_swap
              vars: {json.dumps({"tools_docker_source": "docker", "tools_docker_packages": ["hello"],
                                  "tools__docker_other": DISTRO_ENGINE})}
            - name: Show apt's plan
              ansible.builtin.debug:
                msg: "PLAN {{{{ tools__docker_pkgs.stdout_lines | select('match', '^(Inst|Remv) ') | join(' ; ') }}}} END"
        """))
    rc, changed, flat, output = run(playbook)
    assert rc == 0, output
    tasks = re.findall(r"TASK \[kubedev\.devloop\.tools : ([^\]]+)\]", output)
    assert tasks.index("Download the new engine's packages, removing nothing yet") \
        < tasks.index("Install the new engine and remove the old one in one apt run"), tasks
    plan = re.search(r"PLAN (.*?) END", flat).group(1).split(" ; ")
    verbs = {" ".join(line.split()[:2]) for line in plan}
    assert {"Inst hello", "Remv docker.io", "Remv containerd", "Remv runc"} <= verbs, plan
    assert installed(DISTRO_ENGINE) == distro_engine
