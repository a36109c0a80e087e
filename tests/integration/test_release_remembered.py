"""release.yml after scripts/site: site.yml remembered minikube's kubeconfig, context and docker-env
(kubedev_site_*), and release.yml takes them as they are while minikube's Docker still answers there - no minikube
command runs - and asks the minikube role when it does not. The engine stands in for minikube's as minikube's is
reached (tcp:// with TLS and client certificates, in front of the real dockerd); the cluster is the test cluster,
which no minikube profile knows: a release that asked minikube could not succeed (run as root with no kubedev_user,
the minikube role refuses)."""

import re

import pytest

from conftest import existing_cluster_vars, free_port, run_playbook
from test_image_build_module import tls_engine  # noqa: F401  (the fixture)
from test_release import changed_count, web_image

pytestmark = pytest.mark.integration

ASK_MINIKUBE = "Ask the minikube role for its docker-env and kubeconfig"


def asked(output):
    """What became of the task that includes the minikube role: 'skipping', 'included', or None."""
    match = re.search(r"TASK \[%s\][^\n]*\n(skipping|included)" % re.escape(ASK_MINIKUBE), output)
    return match.group(1) if match else None


def remembered(kubeconfig, namespace, base_image, app_dir, docker_host, certs):
    """The variables release.yml gets after scripts/site: the minikube provider, and what site.yml found."""
    return {
        "kubedev_install_tools": False,
        "kubedev_namespace": namespace,
        "kubedev_base_image": base_image,
        "kubedev_app_dir": str(app_dir),
        "deploy_url_node_selector": "type!=kwok",
        "kubedev_site_kubeconfig": kubeconfig,
        "kubedev_site_context": "kubedev-test",
        "kubedev_site_docker_env": {"DOCKER_HOST": docker_host, "DOCKER_TLS_VERIFY": "1",
                                    "DOCKER_CERT_PATH": str(certs)},
    }


def test_release_takes_what_site_found_while_minikubes_docker_answers(
        tmp_path, repo_root, kubeconfig, namespace, registry, base_image, app_dir, apps_v1, tls_engine):  # noqa: F811
    port, certs, _other = tls_engine
    run_playbook(repo_root / "playbooks" / "site.yml",
                 extra_vars=existing_cluster_vars(kubeconfig, namespace, registry, base_image,
                                                  kubedev_app_dir=str(app_dir)))
    before = web_image(apps_v1.read_namespaced_deployment("web-deployment", namespace))
    (app_dir / "server.js").write_text((app_dir / "server.js").read_text() + "// remembered release\n")

    play_vars = remembered(kubeconfig, namespace, base_image, app_dir, "tcp://127.0.0.1:%d" % port, certs)
    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert asked(proc.stdout) == "skipping", proc.stdout[-3000:]
    after = web_image(apps_v1.read_namespaced_deployment("web-deployment", namespace))
    assert after != before and after.startswith("hello-k8s:0.0.1-"), after   # built into that engine, no push
    again = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert changed_count(again.stdout) == 0, again.stdout[-3000:]

    # minikube restarted (its ports moved): nothing answers there, so the minikube role is asked.
    gone = remembered(kubeconfig, namespace, base_image, app_dir, "tcp://127.0.0.1:%d" % free_port(), certs)
    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=gone, check=False)
    assert proc.returncode != 0
    assert asked(proc.stdout) == "included", proc.stdout[-3000:]
