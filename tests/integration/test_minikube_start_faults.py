"""The minikube role against faults of a real `minikube start` (docker driver, the host's dockerd), as a
fresh login user: each fails with minikube's reason code and its advice, or with the role's own check
before minikube runs, and leaves no profile, container or network behind. The successful start, the
recovery of a removed node container and minikube_state=absent are in the molecule `minikube` scenario.
Needs scripts/testenv up and scripts/minikube-mirror build."""

import json
import pathlib
import shutil
import subprocess
import tempfile
import textwrap

import pytest
import yaml

from conftest import run_playbook

pytestmark = pytest.mark.integration

USER = "kubedev-faults"
PROFILE = "kubedev-faults"


def mirror_vars(repo_root):
    path = subprocess.run([str(repo_root / "scripts" / "minikube-mirror"), "vars"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return yaml.safe_load(pathlib.Path(path).read_text())


@pytest.fixture(scope="module")
def minikube_user(repo_root):
    """A fresh login user in the docker group, and a minikube binary it can run (pytest's tmp is root's)."""
    subprocess.run(["userdel", "--remove", USER], capture_output=True)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "docker", USER], check=True)
    minikube = subprocess.run([str(repo_root / "scripts" / "artifact-mirror-build-minikube")],
                              capture_output=True, text=True, check=True).stdout.strip()
    bindir = pathlib.Path(tempfile.mkdtemp(prefix="kubedev-minikube-"))
    bindir.chmod(0o755)
    shutil.copy(minikube, bindir / "minikube")
    yield {"minikube_user": USER, "minikube_profile": PROFILE, "minikube_bin": str(bindir / "minikube")}
    subprocess.run(["userdel", "--remove", USER], capture_output=True)
    shutil.rmtree(bindir)


def start(tmp_path, role_vars, environment=None):
    """Run the minikube role (state started) in a small playbook; returns (rc, one-line output)."""
    playbook = tmp_path / "start.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Start minikube
          hosts: localhost
          gather_facts: false
          environment: {json.dumps(environment or {})}
          tasks:
            - name: Include the role
              ansible.builtin.include_role:
                name: kubedev.devloop.minikube
        """))
    proc = run_playbook(playbook, extra_vars=role_vars, check=False)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def assert_nothing_left(minikube_user):
    status = subprocess.run(["su", USER, "-c", f"{minikube_user['minikube_bin']} status -p {PROFILE}"],
                            capture_output=True, text=True)
    assert status.returncode == 85, f"the profile exists after a failed start: {status.stdout} {status.stderr}"
    for what in (["container", "ls", "--all"], ["network", "ls"], ["volume", "ls"]):
        left = subprocess.run(["docker", *what, "--quiet", "--filter", f"name=^{PROFILE}$"],
                              capture_output=True, text=True, check=True).stdout
        assert left.strip() == "", f"docker {what[0]} {left} left behind"


@pytest.fixture()
def failed_start(tmp_path, repo_root, minikube_user):
    """Start with the mirror's variables and these overrides; the start must fail. Returns its output, one line."""

    def run(overrides=None, environment=None):
        rc, output = start(tmp_path, {**mirror_vars(repo_root), **minikube_user, **(overrides or {})}, environment)
        assert rc != 0, f"the start succeeded:\n{output[-3000:]}"
        return output

    return run


MINIKUBE_RAN = "TASK [kubedev.devloop.minikube : Start minikube profile"
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.mark.parametrize(
    "case, overrides, environment, expected",
    [
        # the user's docker client finds no daemon: minikube's own check (no mirror, so minikube runs first)
        ("dockerd not running", {"minikube_base_image": "", "minikube_cache_seed_dir": ""}, NO_DOCKER,
         ["PROVIDER_DOCKER_NOT_RUNNING", "Fix:"]),
        ("too little memory", {"minikube_memory": "100"}, {}, ["RSRC_INSUFFICIENT_REQ_MEMORY", "100MiB"]),
        ("too few CPUs", {"minikube_cpus": 1}, {}, ["RSRC_INSUFFICIENT_CORES", "Fix: set minikube_cpus to 2 or more"]),
        ("Kubernetes too old for this minikube", {"minikube_kubernetes_version": "v1.20.0",
                                                  "minikube_cache_seed_dir": ""}, {},
         ["K8S_OLD_UNSUPPORTED", "v1.20.0", "Fix: set minikube_kubernetes_version"]),
    ],
)
def test_minikube_refuses_and_the_role_says_why(failed_start, minikube_user, case, overrides, environment, expected):
    output = failed_start(overrides, environment)
    assert f"'minikube start -p {PROFILE} --driver=docker' failed" in output, output[-3000:]
    assert f"as user {USER}" in output
    for text in expected:
        assert text in output, f"{case}: {text!r} missing:\n{output[-3000:]}"
    assert_nothing_left(minikube_user)


def test_dockerd_not_answering_is_named_before_the_node_image_is_loaded(failed_start, minikube_user):
    output = failed_start(environment=NO_DOCKER)
    assert f"PROVIDER_DOCKER_NOT_RUNNING: the Docker engine does not answer user {USER}" in output, output[-3000:]
    assert "Fix: start Docker" in output
    assert MINIKUBE_RAN not in output
    assert_nothing_left(minikube_user)


def test_a_missing_node_image_is_named_before_minikube_runs(failed_start, minikube_user):
    output = failed_start({"minikube_base_image": "kubedev/no-such-node-image:1", "minikube_base_image_archive": ""})
    assert "minikube_base_image: kubedev/no-such-node-image:1 is not in the Docker engine of user" in output
    assert "scripts/minikube-mirror build" in output
    assert MINIKUBE_RAN not in output
    assert_nothing_left(minikube_user)


def test_a_mirror_without_the_asked_kubernetes_version_is_named(failed_start, minikube_user):
    output = failed_start({"minikube_kubernetes_version": "v1.34.4"})
    assert "has no kubeadm for minikube_kubernetes_version=v1.34.4" in output, output[-3000:]
    assert MINIKUBE_RAN not in output
    assert_nothing_left(minikube_user)


def test_a_start_that_fails_after_creating_the_node_deletes_the_half_made_profile(failed_start, minikube_user):
    # an image that is no minikube node: minikube creates the container, network and volume, then gives up
    output = failed_start({"minikube_base_image": "kubedev/node-base:bookworm", "minikube_base_image_archive": ""})
    assert MINIKUBE_RAN in output
    assert "GUEST_PROVISION" in output, output[-3000:]
    assert "The profile this run had begun to create was deleted." in output, output[-3000:]
    assert_nothing_left(minikube_user)
