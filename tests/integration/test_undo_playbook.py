"""playbooks/undo.yml against the test environment: the previous release comes back (as kubectl rollout undo),
kubedev_undo_revision picks one, a second undo at the same revision changes nothing, and bad input fails naming the
kubedev_* variable, changing nothing."""

import pytest

from conftest import existing_cluster_vars, run_playbook
from test_set_image_support import APP, create, deployment, kubectl, read

pytestmark = pytest.mark.integration


@pytest.fixture()
def released(kubeconfig, apps_v1, namespace):
    """web-deployment after three releases (APP:1, :2, :3), each with its change-cause."""
    create(apps_v1, kubeconfig, namespace, deployment("web-deployment"))
    for tag in ("2", "3"):
        kubectl(kubeconfig, "-n", namespace, "patch", "deployment/web-deployment", "-p",
                '{"metadata": {"annotations": {"kubernetes.io/change-cause": "release %s"}}, "spec": {"template": '
                '{"spec": {"containers": [{"name": "web", "image": "%s:%s"}]}}}}' % (tag, APP, tag))
        kubectl(kubeconfig, "-n", namespace, "rollout", "status", "deployment/web-deployment", "--timeout", "90s")


def undo(repo_root, kubeconfig, namespace, registry, base_image, check=True, **extra):
    return run_playbook(repo_root / "playbooks" / "undo.yml", check=check,
                        extra_vars=existing_cluster_vars(kubeconfig, namespace, registry, base_image, **extra))


def live(apps_v1, namespace):
    obj = read(apps_v1, namespace, "Deployment", "web-deployment")
    return obj["spec"]["template"]["spec"]["containers"][0]["image"], obj["metadata"]["annotations"]


def test_undo_the_last_release_then_to_a_revision(repo_root, kubeconfig, apps_v1, namespace, registry, base_image,
                                                   released):
    out = " ".join(undo(repo_root, kubeconfig, namespace, registry, base_image).stdout.split())
    assert "web-deployment is back on revision 2 (%s:2), now revision 4" % APP in out, out[-3000:]
    image, annotations = live(apps_v1, namespace)
    assert image == APP + ":2" and annotations["kubernetes.io/change-cause"] == "release 2"

    undo(repo_root, kubeconfig, namespace, registry, base_image, kubedev_undo_revision=1)
    assert live(apps_v1, namespace)[0] == APP + ":1"
    out = " ".join(undo(repo_root, kubeconfig, namespace, registry, base_image, kubedev_undo_revision=5).stdout.split())
    assert "web-deployment already runs revision 5; nothing to undo" in out, out[-3000:]


@pytest.mark.parametrize("revision, words", [
    ("99", "kubedev_undo_revision=99 failed: nothing was changed: Deployment {ns}/web-deployment: unable to find "
           "specified revision 99 in history (revisions: 1, 2, 3"),
    ("two", "kubedev_undo_revision=two: expected a revision number of Deployment web-deployment"),
])
def test_bad_revision_changes_nothing(repo_root, kubeconfig, apps_v1, namespace, registry, base_image, released,
                                      revision, words):
    before = read(apps_v1, namespace, "Deployment", "web-deployment")
    proc = undo(repo_root, kubeconfig, namespace, registry, base_image, check=False, kubedev_undo_revision=revision)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and words.format(ns=namespace) in out, out[-3000:]
    assert read(apps_v1, namespace, "Deployment", "web-deployment")["metadata"]["generation"] == \
        before["metadata"]["generation"]


def test_missing_deployment_names_the_variable(repo_root, kubeconfig, namespace, registry, base_image):
    proc = undo(repo_root, kubeconfig, namespace, registry, base_image, check=False)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "kubedev_deployment_name=web-deployment: no such Deployment in namespace %s (kubedev_namespace)" % namespace \
        in out, out[-3000:]
