"""Bad role variables fail at validation - the argument spec or the role's validate tasks, both before
anything changes - with a message that names the variable. Real ansible-playbook runs of small playbooks
that include the roles by their collection names."""

import re
import textwrap

import pytest

from conftest import run_playbook


def include_role_playbook(tmp_path, role, role_vars, check=False):
    """A one-task playbook including kubedev.devloop.<role> with role_vars; returns its path."""
    lines = [f"        {key}: {value!r}" for key, value in role_vars.items()]
    playbook = tmp_path / f"{role}.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - name: Include {role}
              hosts: localhost
              gather_facts: false
              tasks:
                - name: Include the role
                  ansible.builtin.include_role:
                    name: kubedev.devloop.{role}
                  vars:
            """
        )
        + "\n".join(lines)
        + "\n"
    )
    return playbook


def run_failing(tmp_path, role, role_vars):
    proc = run_playbook(include_role_playbook(tmp_path, role, role_vars), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{role} accepted {role_vars}:\n{output}"
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)
    assert recap, output
    assert recap.group(1) == "0", f"a validation failure must come before any change:\n{output}"
    return " ".join(output.split())  # messages wrap across lines in the YAML callback


def test_unknown_minikube_driver_is_rejected(tmp_path):
    output = run_failing(tmp_path, "minikube", {"minikube_driver": "hyperspace"})
    assert "minikube_driver" in output
    assert "hyperspace" in output
    assert "must be one of" in output
    assert "docker" in output  # the message lists the drivers that exist


def test_negative_replicas_are_rejected(tmp_path):
    output = run_failing(tmp_path, "deploy", {"deploy_image": "127.0.0.1:5000/hello-k8s:0.0.1", "deploy_replicas": -1})
    assert "deploy_replicas=-1: expected a number of pods, 0 or more." in output


def test_replicas_that_are_no_number_are_rejected(tmp_path):
    output = run_failing(tmp_path, "deploy", {"deploy_image": "127.0.0.1:5000/hello-k8s:0.0.1", "deploy_replicas": "many"})
    assert "deploy_replicas" in output
    assert "int" in output


def test_prestop_sleep_as_long_as_the_grace_period_is_rejected(tmp_path):
    # the kubelet would kill the pod at the end of the sleep, before SIGTERM could drain anything
    output = run_failing(
        tmp_path,
        "deploy",
        {
            "deploy_image": "127.0.0.1:5000/hello-k8s:0.0.1",
            "deploy_prestop_sleep_seconds": 30,
            "deploy_termination_grace_period_seconds": 30,
        },
    )
    assert "deploy_prestop_sleep_seconds=30: expected seconds, 0 or more and less than the grace period" in output
    assert "(deploy_termination_grace_period_seconds=30)" in output


@pytest.mark.parametrize(
    "image",
    ["Hello-K8s:0.0.1", "127.0.0.1:5000/hello-k8s:bad tag", "registry.example.com//hello:1", "hello-k8s:", "hello-k8s@sha256:1234"],
)
def test_malformed_image_names_are_rejected(tmp_path, image):
    output = run_failing(tmp_path, "deploy", {"deploy_image": image})
    assert f"deploy_image='{image}' is not an image reference" in output


def test_missing_image_is_rejected(tmp_path):
    output = run_failing(tmp_path, "deploy", {"deploy_namespace": "default"})
    assert "missing required arguments: deploy_image" in output


def test_unknown_service_type_is_rejected(tmp_path):
    output = run_failing(tmp_path, "deploy", {"deploy_image": "hello-k8s:0.0.1", "deploy_service_type": "Nodeport"})
    assert "deploy_service_type must be one of: ClusterIP, NodePort, LoadBalancer, got: Nodeport" in output


def test_push_to_auth_registry_without_password_is_rejected(tmp_path):
    output = run_failing(
        tmp_path,
        "image",
        {"image_registry": "127.0.0.1:5001", "image_registry_username": "kubedev", "image_push": True},
    )
    assert "image_registry=127.0.0.1:5001: pushing there needs a login" in output
    assert "image_registry_password" in output
    assert "given: False" in output


def test_auth_registry_flag_without_credentials_is_rejected(tmp_path):
    output = run_failing(tmp_path, "image", {"image_registry": "docker.io/someone", "image_registry_auth": True})
    assert "image_registry=docker.io/someone: pushing there needs a login" in output


def test_password_never_appears_in_the_output(tmp_path):
    """A failing run (here: no username) must not print the vaulted password anywhere."""
    secret = "s3cret-not-for-logs"
    output = run_failing(
        tmp_path,
        "image",
        {"image_registry": "127.0.0.1:5001", "image_registry_auth": True, "image_registry_password": secret},
    )
    assert "needs a login" in output
    assert secret not in output


def test_push_without_registry_is_rejected(tmp_path):
    output = run_failing(tmp_path, "image", {"image_push": True})
    assert "image_push is true but image_registry is empty" in output


def test_malformed_registry_is_rejected(tmp_path):
    output = run_failing(tmp_path, "image", {"image_registry": "https://127.0.0.1:5000"})
    assert "image_registry='https://127.0.0.1:5000' is not host[:port][/path]" in output


@pytest.mark.integration
def test_valid_variables_pass_validation(tmp_path, kubeconfig, namespace):
    """The control: the same playbook with good values gets past validation (check mode, nothing changes)."""
    playbook = include_role_playbook(
        tmp_path,
        "deploy",
        {"deploy_image": "127.0.0.1:5000/hello-k8s:0.0.1", "deploy_replicas": 0, "deploy_kubeconfig": kubeconfig,
         "deploy_namespace": namespace},
    )
    proc = run_playbook(playbook, "--check", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Apply Namespace, ConfigMap, Deployment, Service and CronJob" in proc.stdout


def run_image_steps_failing(tmp_path, steps, role_vars):
    """The image role's entry points (tasks_from) one after the other in one play, expected to fail unchanged."""
    tasks = "".join(f"""
    - name: Include the image role's {step}
      ansible.builtin.include_role:
        name: kubedev.devloop.image
        tasks_from: {step}
      vars: {role_vars!r}
""" for step in steps)
    playbook = tmp_path / "image-steps.yml"
    playbook.write_text(f"- name: Image steps\n  hosts: localhost\n  gather_facts: false\n  tasks:{tasks}")
    proc = run_playbook(playbook, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", output), output
    return " ".join(output.split())


def test_the_image_role_plan_validates_its_arguments_as_main_does(tmp_path):
    output = run_image_steps_failing(tmp_path, ["plan"], {"image_push": "maybe"})
    assert "Validating arguments against arg spec 'plan'" in output, output
    assert "image_push" in output and "maybe" in output, output


def test_the_image_role_apply_alone_asks_for_plan_first(tmp_path):
    output = run_image_steps_failing(tmp_path, ["apply"], {})
    assert "tasks_from=apply builds what tasks_from=plan found missing: expected tasks_from=plan first" in output, output
