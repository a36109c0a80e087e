"""rollout_undo_runner against a stand-in client: every patch dry-run first, check mode writes nothing, a 409 is
read again, resolved again and retried, a refusal of one target changes none."""

import copy

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import Action, ApiError
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_undo_runner import (
    check_undo_request,
    show_history,
    undo,
)

from test_rollout_history import replicaset, web


class FakeClient(object):
    def __init__(self, deployment, replicasets, conflicts=0):
        self.deployment = deployment
        self.replicasets = replicasets
        self.conflicts = conflicts
        self.patches = []       # (dryRun, body)
        self.gets = 0

    def get(self, resource, namespace, name):
        self.gets += 1
        return copy.deepcopy(self.deployment)

    def list(self, resource, namespace, label_selector=None, field_selector=None):
        assert resource.plural == "replicasets" and label_selector == "app=web"
        return {"items": copy.deepcopy(self.replicasets)}

    def request(self, method, path, action, query=None, body=None, content_type=None):
        assert method == "PATCH" and content_type == "application/json-patch+json"
        self.patches.append((query["dryRun"], body))
        if self.conflicts:
            self.conflicts -= 1
            self.deployment["metadata"]["resourceVersion"] = str(int(self.deployment["metadata"]["resourceVersion"]) + 1)
            raise ApiError(409, {"message": "the object has been modified"}, Action("patch", "deployments", "apps"))
        return dict(copy.deepcopy(self.deployment), patched=True)


def params(**extra):
    base = {"kind": "Deployment", "name": ["web"], "label_selectors": None, "namespace": "dev", "wait": False,
            "wait_timeout": 300, "crashloop_restarts": 2, "transient_failure_grace": 90,
            "to_revision": None, "to_image": None}
    base.update(extra)
    return base


def three_releases():
    return [replicaset("app:1", 1, "2025-01-01T00:00:00Z", "release 1"),
            replicaset("app:2", 2, "2025-01-02T00:00:00Z", "release 2"),
            replicaset("app:3", 3, "2025-01-03T00:00:00Z", "release 3")]


def test_dry_run_then_write():
    client = FakeClient(web("app:3", 3), three_releases())
    result = undo(client, params(), check_mode=False)
    assert [dry for dry, _ in client.patches] == ["All", None]
    assert result["changed"] and not result.get("failed")
    target = result["targets"][0]
    assert (target["from_revision"], target["to_revision"], target["images"], target["previous_images"]) == (
        3, 2, {"web": "app:2"}, {"web": "app:3"})
    assert target["status"] == "skipped" and target["action"] == "rolled back"
    assert result["diff"]["after"]["Deployment/dev/web"]["images"] == {"web": "app:2"}


def test_check_mode_only_dry_runs():
    client = FakeClient(web("app:3", 3), three_releases())
    result = undo(client, params(to_revision=1), check_mode=True)
    assert [dry for dry, _ in client.patches] == ["All"]
    assert result["changed"] and result["targets"][0]["changed"]


def test_conflict_is_read_again_and_retried_on_the_new_resource_version():
    client = FakeClient(web("app:3", 3), three_releases(), conflicts=1)
    result = undo(client, params(), check_mode=False)
    assert not result.get("failed") and result["changed"]
    versions = [body[0]["value"] for _, body in client.patches]
    assert versions == ["42", "43", "43"] and client.gets == 2   # the target, then once after the 409
    assert result["targets"][0]["patch_attempts"] == 1   # the write went through at once after the dry run's retry


def test_refusal_writes_nothing():
    client = FakeClient(web("app:3", 3, paused=True), three_releases())
    result = undo(client, params(), check_mode=False)
    assert result["failed"] and not result["changed"] and client.patches == []
    assert result["msg"].startswith("nothing was changed: Deployment dev/web: you cannot rollback a paused deployment")
    assert result["targets"][0]["reason"] == "DeploymentPaused"


def test_already_there_writes_nothing():
    client = FakeClient(web("app:3", 3), three_releases())
    result = undo(client, params(to_image="app:3"), check_mode=False)
    assert not result["changed"] and client.patches == []
    assert result["targets"][0]["action"] == "skipped rollback (current template already matches revision 3)"


def test_input_checks():
    assert check_undo_request(params(to_revision=-2)) == [
        "to_revision must be 0 (the previous revision) or a revision number, got -2"]
    assert check_undo_request(params(to_revision=0, to_image="a")) == [
        "to_revision and to_image are mutually exclusive: give one of them"]
    assert check_undo_request(params(to_image=" ")) == ["to_image is empty: name the image a revision ran"]


def test_history_of_one_target_and_of_a_missing_revision():
    client = FakeClient(web("app:3", 3), three_releases())
    result = show_history(client, dict(params(), revision=None))
    assert result["current_revision"] == 3 and [r["revision"] for r in result["revisions"]] == [1, 2, 3]
    assert all("object" not in r for r in result["revisions"])
    missing = show_history(client, dict(params(), revision=7))
    assert missing["failed"] and missing["msg"] == "Deployment dev/web: unable to find the specified revision 7"
