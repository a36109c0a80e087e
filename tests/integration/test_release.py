"""playbooks/release.yml against the test environment, after site.yml deployed the app: a changed app
rolls out under a new tag, an unchanged one changes nothing, and a release that cannot come up
(crash loop, unpullable image) fails and leaves the previous image running."""

import json
import re
import urllib.request
import uuid

import pytest

from conftest import SERVING_NODES, existing_cluster_vars, rollout_complete, run_playbook

pytestmark = pytest.mark.integration

REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture()
def play_vars(kubeconfig, namespace, registry, base_image, app_dir):
    return existing_cluster_vars(kubeconfig, namespace, registry, base_image, kubedev_app_dir=str(app_dir))


@pytest.fixture()
def site_output(repo_root, play_vars):
    """site.yml has deployed the app (on kwok's nodes); returns its output."""
    return run_playbook(repo_root / "playbooks" / "site.yml", extra_vars=play_vars).stdout


@pytest.fixture()
def deployed(site_output, apps_v1, namespace):
    """site.yml has deployed the app; returns the Deployment as it is then."""
    return apps_v1.read_namespaced_deployment("web-deployment", namespace)


def test_no_page_check_without_a_pod_on_a_selected_node(site_output):
    """The app's pods run on kwok nodes, which deploy_url_node_selector leaves out: the deploy role says so
    and checks no page there (the real-node tests see it check one)."""
    text = " ".join(site_output.split())
    assert f"deploy_url_node_selector {SERVING_NODES}" in text, site_output[-3000:]
    check = re.search(r"TASK \[kubedev\.devloop\.deploy : Check that the page shows the config values\][^\n]*\n(\w+):",
                      site_output)
    assert check and check.group(1) == "skipping", site_output[-3000:]


def web_image(deployment):
    return next(c.image for c in deployment.spec.template.spec.containers if c.name == "web")


def changed_count(output):
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)
    assert recap, output
    return int(recap.group(1))


def registry_tags(registry, name):
    with urllib.request.urlopen(f"http://{registry}/v2/{name}/tags/list", timeout=10) as response:
        return json.load(response)["tags"]


def test_changed_app_rolls_out_under_a_new_tag(repo_root, play_vars, deployed, apps_v1, namespace, registry, app_dir):
    before_image = web_image(deployed)
    before_revision = int(deployed.metadata.annotations[REVISION])
    assert rollout_complete(deployed)

    server = app_dir / "server.js"
    server.write_text(server.read_text() + f"// release test {uuid.uuid4().hex}\n")
    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)

    after = apps_v1.read_namespaced_deployment("web-deployment", namespace)
    after_image = web_image(after)
    tag = after_image.rsplit(":", 1)[1]
    assert after_image != before_image
    assert re.fullmatch(rf"{re.escape(registry)}/hello-k8s:0\.0\.1-[0-9a-f]{{12}}", after_image)
    assert int(after.metadata.annotations[REVISION]) > before_revision
    assert after.metadata.annotations.get("kubernetes.io/change-cause") == f"release {tag}"
    assert rollout_complete(after)
    assert tag in registry_tags(registry, "hello-k8s")
    assert f"Released {after_image}" in " ".join(proc.stdout.split())
    assert f"at revision {after.metadata.annotations[REVISION]}" in " ".join(proc.stdout.split())
    assert task_states(proc.stdout, PREFLIGHT_TASK) == ["ok"], proc.stdout[-4000:]   # checked before the build
    # The build's module run moved the version tag too, in the registry as well.
    assert task_states(proc.stdout, APPLY_TASK) == ["changed"], proc.stdout[-4000:]
    assert manifest_digest(registry, "hello-k8s", "0.0.1") == manifest_digest(registry, "hello-k8s", tag)

    # Nothing changed since: nothing is built, pushed or rolled out, and set_image alone asks the cluster.
    again = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert changed_count(again.stdout) == 0, again.stdout
    assert_all_in_place(again.stdout)
    unchanged = apps_v1.read_namespaced_deployment("web-deployment", namespace)
    assert unchanged.metadata.generation == after.metadata.generation
    assert "already runs" in again.stdout


def manifest_digest(registry, name, tag):
    """The digest the registry serves for name:tag (what a node pulling it gets)."""
    request = urllib.request.Request(f"http://{registry}/v2/{name}/manifests/{tag}", method="HEAD", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def task_states(output, task):
    """'changed'/'ok'/... of each result line after TASK [<task>]; [] when the task did not come up at all."""
    if f"TASK [{task}]" not in output:
        return []
    section = output.split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]
    return re.findall(r"^(ok|changed|skipping|failed): ", section, re.MULTILINE)


# release.yml runs the image role's plan, then its check of the cluster and the image role's apply only when the plan
# found something missing; apply includes the build and the tags, each only when there is something to do.
CHECK_STEP = "Check the release can happen, unless the image is in place already"
PREFLIGHT_TASK = "Read the Deployment and ask for every permission set_image needs"
APPLY_STEP = "Build, push and tag what is missing"
PLAN_TASK = "kubedev.devloop.image : Plan or build the image (planned)"
APPLY_TASK = "kubedev.devloop.image : Plan or build the image (present)"


def assert_all_in_place(output):
    """The image role's plan found the build and its tags in place: no cluster check, nothing built or tagged."""
    assert task_states(output, CHECK_STEP) == ["skipping"], output[-4000:]
    assert task_states(output, PREFLIGHT_TASK) == [], output[-4000:]
    assert task_states(output, APPLY_STEP) == ["skipping"], output[-4000:]
    assert task_states(output, PLAN_TASK) == ["ok"], output[-4000:]
    assert task_states(output, APPLY_TASK) == [], output[-4000:]


def test_reverted_edit_moves_the_version_tag_back(repo_root, play_vars, deployed, namespace, registry, app_dir):
    """An edit, then its revert: the revert reuses the first build (its content tag is in the engine and the
    registry, so nothing is built) and moves the version tag back onto it, in the registry too; that move is a
    change even though no layer went up."""
    first = web_image(deployed).rsplit(":", 1)[1]
    assert manifest_digest(registry, "hello-k8s", "0.0.1") == manifest_digest(registry, "hello-k8s", first)
    server = app_dir / "server.js"
    original = server.read_text()
    server.write_text(original + f"// release test {uuid.uuid4().hex}\n")
    run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert manifest_digest(registry, "hello-k8s", "0.0.1") != manifest_digest(registry, "hello-k8s", first)

    server.write_text(original)
    proc = run_playbook(repo_root / "playbooks" / "release.yml", "-v", extra_vars=play_vars)
    assert task_states(proc.stdout, APPLY_TASK) == ["changed"], proc.stdout[-4000:]
    applied = proc.stdout.split(f"TASK [{APPLY_TASK}]", 1)[1].split("TASK [", 1)[0]
    assert "built " not in applied and f"tagged {registry}/hello-k8s:0.0.1" in applied, applied
    assert manifest_digest(registry, "hello-k8s", "0.0.1") == manifest_digest(registry, "hello-k8s", first)

    again = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert changed_count(again.stdout) == 0, again.stdout
    # Every tag in place, in the engine and the registry: nothing to do for them.
    assert_all_in_place(again.stdout)



def test_unchanged_release_puts_back_a_version_tag_moved_in_the_registry(
        repo_root, play_vars, deployed, namespace, registry, docker_client, base_image):
    """The engine's version tag still names the build, the registry's was moved behind our back: the unchanged
    release asks the registry, pushes the tag back and says so; the next one finds it in place."""
    content = web_image(deployed).rsplit(":", 1)[1]
    version_ref = f"{registry}/hello-k8s:0.0.1"
    build = docker_client.images.get(version_ref)
    docker_client.images.get(base_image).tag(version_ref)
    docker_client.images.push(version_ref)
    build.tag(version_ref)   # the engine's tag back on the build: only the registry's moved
    assert manifest_digest(registry, "hello-k8s", "0.0.1") != manifest_digest(registry, "hello-k8s", content)

    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert task_states(proc.stdout, APPLY_TASK) == ["changed"], proc.stdout[-4000:]
    assert manifest_digest(registry, "hello-k8s", "0.0.1") == manifest_digest(registry, "hello-k8s", content)

    again = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert changed_count(again.stdout) == 0, again.stdout
    assert_all_in_place(again.stdout)



def test_unchanged_release_pushes_back_a_content_tag_moved_in_the_registry(
        repo_root, play_vars, deployed, namespace, registry, docker_client, base_image):
    """The engine has the build, but the registry's content tag names another image: the build is not in place, so
    the apply step runs (building nothing) and pushes it back, and says so; the next release skips it again."""
    content = web_image(deployed).rsplit(":", 1)[1]
    content_ref = f"{registry}/hello-k8s:{content}"
    pushed = manifest_digest(registry, "hello-k8s", content)
    build = docker_client.images.get(content_ref)
    docker_client.images.get(base_image).tag(content_ref)
    docker_client.images.push(content_ref)
    build.tag(content_ref)   # the engine's tag back on the build: only the registry's moved
    assert manifest_digest(registry, "hello-k8s", content) != pushed

    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert task_states(proc.stdout, APPLY_TASK) == ["changed"], proc.stdout[-4000:]
    assert manifest_digest(registry, "hello-k8s", content) == pushed
    assert docker_client.images.get(content_ref).id == build.id

    again = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=play_vars)
    assert changed_count(again.stdout) == 0, again.stdout
    assert_all_in_place(again.stdout)


@pytest.mark.parametrize("bad, says", [
    ({"kubedev_deployment_name": "no-such-deployment"}, "Deployment 'no-such-deployment' not found in namespace"),
    ({"kubedev_container_name": "app"}, "has no container named 'app' (containers: web"),
], ids=["deployment-unknown", "container-unknown"])
def test_release_with_the_image_in_place_still_fails_clearly_on_a_wrong_target(
        repo_root, play_vars, deployed, apps_v1, namespace, bad, says):
    """The image is in place, so release.yml skips its own cluster check (a module run) and lets set_image, which
    reads the same Deployment, answer: a wrong Deployment or container name still fails before anything changes,
    and says what was wrong and what was expected."""
    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=dict(play_vars, **bad), check=False)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert changed_count(proc.stdout) == 0, proc.stdout[-4000:]
    assert task_states(proc.stdout, CHECK_STEP) == ["skipping"], proc.stdout[-4000:]
    text = " ".join(proc.stdout.split())
    assert says in text, proc.stdout[-4000:]
    assert "Nothing was changed. Expected the kubeconfig file and context of a running cluster" in text, proc.stdout[-4000:]
    after = apps_v1.read_namespaced_deployment("web-deployment", namespace)
    assert after.metadata.generation == deployed.metadata.generation
    assert web_image(after) == web_image(deployed)


def assert_rolled_back(proc, deployed, apps_v1, namespace, reasons):
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, output
    assert any(reason in output for reason in reasons), output[-3000:]
    assert f"Rolled back: web-deployment is back on its previous image {web_image(deployed)}." in output
    after = apps_v1.read_namespaced_deployment("web-deployment", namespace)
    assert web_image(after) == web_image(deployed)
    assert rollout_complete(after)


def test_crashing_release_is_rolled_back(repo_root, play_vars, deployed, apps_v1, namespace):
    # The kwok cluster crash-loops every image whose tag ends in -crash.
    proc = run_playbook(
        repo_root / "playbooks" / "release.yml", extra_vars=dict(play_vars, kubedev_app_version="0.0.1-crash"), check=False
    )
    assert_rolled_back(proc, deployed, apps_v1, namespace, ["CrashLoopBackOff"])


def test_unpullable_image_is_rolled_back(repo_root, play_vars, deployed, apps_v1, namespace):
    # No build; the kwok cluster never pulls from a registry whose host ends in .invalid.
    extra = dict(play_vars, kubedev_build=False, kubedev_image="registry.kubedev.invalid/hello-k8s:0.0.1")
    proc = run_playbook(repo_root / "playbooks" / "release.yml", extra_vars=extra, check=False)
    # set_image fails on the first pull error, before the kubelet backs off.
    assert_rolled_back(proc, deployed, apps_v1, namespace, ["ErrImagePull", "ImagePullBackOff"])


def test_explicit_version_is_deployed_with_pull_policy_always(repo_root, play_vars, apps_v1, namespace, registry):
    # A version tag moves to each new build of that version, so the node must not keep its old copy.
    run_playbook(repo_root / "playbooks" / "site.yml", extra_vars=dict(play_vars, kubedev_app_version="0.0.7"))
    web = next(
        c for c in apps_v1.read_namespaced_deployment("web-deployment", namespace).spec.template.spec.containers
        if c.name == "web"
    )
    assert web.image == f"{registry}/hello-k8s:0.0.7"
    assert web.image_pull_policy == "Always"
    assert "0.0.7" in registry_tags(registry, "hello-k8s")
