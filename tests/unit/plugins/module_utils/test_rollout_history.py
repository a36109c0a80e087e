"""rollout_history.py: kubectl's rollout history and undo rules (polymorphichelpers history.go, rollback.go) on plain
API objects. The differential tests check the same against kubectl on a real cluster."""

import pathlib

import pytest
import yaml

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_history import (
    CHANGE_CAUSE_ANNOTATION,
    LAST_APPLIED_ANNOTATION,
    NO_HISTORY_REASON,
    NOT_FOUND_REASON,
    PAUSED_REASON,
    UndoRefused,
    choose_revision,
    controller_history,
    deployment_history,
    plan_undo,
    templates_equal_ignoring_hash,
    undo_annotations,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_preflight import (
    RULE_SETS,
    rollout_undo_rules,
    set_image_rules,
)

from test_rollout_preflight_rules import permissions

REVISION = "deployment.kubernetes.io/revision"
ROLE = pathlib.Path(__file__).resolve().parents[4] / "docs" / "rbac" / "rollout_undo-role.yml"


def template(image, hash_label=None, annotations=None):
    labels = {"app": "web"}
    if hash_label:
        labels["pod-template-hash"] = hash_label
    metadata = {"labels": labels, "creationTimestamp": None}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata,
            "spec": {"containers": [{"name": "web", "image": image, "resources": {}}], "restartPolicy": "Always"}}


def web(image, revision, paused=False, annotations=None, limit=None):
    spec = {"selector": {"matchLabels": {"app": "web"}}, "template": template(image)}
    if paused:
        spec["paused"] = True
    if limit is not None:
        spec["revisionHistoryLimit"] = limit
    meta_annotations = {REVISION: str(revision), LAST_APPLIED_ANNOTATION: "{applied}", "team": "web",
                        CHANGE_CAUSE_ANNOTATION: "release %d" % revision}
    meta_annotations.update(annotations or {})
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "dev", "uid": "d-uid",
                                                 "resourceVersion": "42", "annotations": meta_annotations},
            "spec": spec}


def replicaset(image, revision, created, cause=None, history=None, owner="d-uid", name=None):
    annotations = {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": "2",
                   "deployment.kubernetes.io/max-replicas": "3", "team": "web"}
    if cause:
        annotations[CHANGE_CAUSE_ANNOTATION] = cause
    if history:
        annotations["deployment.kubernetes.io/revision-history"] = history
    return {"metadata": {"name": name or "web-" + image[-1], "uid": "rs-" + image + str(revision),
                         "creationTimestamp": created, "annotations": annotations,
                         "ownerReferences": [{"uid": owner, "controller": True}]},
            "spec": {"template": template(image, hash_label="h" + image[-1])}}


def test_history_lists_owned_replicasets_by_revision_with_the_current_one():
    sets = [replicaset("app:3", 5, "2025-01-03T00:00:00Z", "release 3", history="3"),
            replicaset("app:1", 1, "2025-01-01T00:00:00Z", "release 1"),
            replicaset("app:2", 4, "2025-01-02T00:00:00Z", "release 2", history="2"),
            replicaset("app:9", 9, "2025-01-09T00:00:00Z", owner="someone-else"),
            dict(replicaset("app:x", 7, "2025-01-07T00:00:00Z"),
                 metadata=dict(replicaset("app:x", 7, "2025-01-07T00:00:00Z")["metadata"],
                               annotations={REVISION: "seven"}))]
    entries = deployment_history(web("app:3", 5), sets)
    assert [(e["revision"], e["change_cause"], e["images"], e["current"], e["revision_history"]) for e in entries] == [
        (1, "release 1", {"web": "app:1"}, False, []),
        (4, "release 2", {"web": "app:2"}, False, [2]),
        (5, "release 3", {"web": "app:3"}, True, [3]),
    ]
    assert entries[0]["created"] == "2025-01-01T00:00:00Z"
    assert "pod-template-hash" not in entries[0]["template"]["metadata"]["labels"]


def test_template_equality_ignores_the_hash_label_and_empty_fields():
    assert templates_equal_ignoring_hash(template("a", hash_label="x"), template("a"))
    bare = template("a")
    del bare["metadata"]["creationTimestamp"], bare["spec"]["containers"][0]["resources"]
    assert templates_equal_ignoring_hash(bare, template("a", hash_label="y"))
    assert not templates_equal_ignoring_hash(template("a"), template("b"))


def entries():
    return deployment_history(web("app:3", 3), [
        replicaset("app:1", 1, "2025-01-01T00:00:00Z", "release 1"),
        replicaset("app:2", 2, "2025-01-02T00:00:00Z", "release 2"),
        replicaset("app:3", 3, "2025-01-03T00:00:00Z", "release 3"),
    ])


@pytest.mark.parametrize("to_revision, to_image, expected", [
    (None, None, 2), (0, None, 2), (1, None, 1), (3, None, 3), (None, "app:1", 1), (None, "app:3", 3),
])
def test_choose_revision_as_kubectl_resolves_it(to_revision, to_image, expected):
    assert choose_revision("Deployment", web("app:3", 3), entries(), to_revision, to_image)["revision"] == expected


@pytest.mark.parametrize("to_revision, to_image, reason, words", [
    (7, None, NOT_FOUND_REASON, "unable to find specified revision 7 in history (revisions: 1, 2, 3)"),
    (-1, None, NOT_FOUND_REASON, "unable to find specified revision -1 in history"),
    (None, "app:0", NOT_FOUND_REASON, "no revision in its history ran the image app:0 (revisions: 1: app:1; 2: app:2"),
])
def test_choose_revision_refusals(to_revision, to_image, reason, words):
    with pytest.raises(UndoRefused) as refused:
        choose_revision("Deployment", web("app:3", 3), entries(), to_revision, to_image)
    assert refused.value.reason == reason and words in refused.value.message


def test_no_previous_revision():
    with pytest.raises(UndoRefused) as refused:
        choose_revision("Deployment", web("app:1", 1), entries()[:1])
    assert refused.value.reason == NO_HISTORY_REASON and "no rollout history found for deployment 'web'" in str(refused.value)
    with pytest.raises(UndoRefused) as refused:
        choose_revision("DaemonSet", web("app:1", 1), entries()[:1])
    assert "no last revision to roll back to" in str(refused.value)


def test_undo_keeps_the_deployments_own_annotations_and_takes_the_revisions():
    deployment = web("app:3", 3, annotations={"deprecated.deployment.rollback.to": "1", "only-on-deployment": "x"})
    rs = replicaset("app:1", 1, "2025-01-01T00:00:00Z", "release 1")
    assert undo_annotations(deployment, rs) == {
        LAST_APPLIED_ANNOTATION: "{applied}", REVISION: "3", "deprecated.deployment.rollback.to": "1",
        "team": "web", CHANGE_CAUSE_ANNOTATION: "release 1"}   # only-on-deployment goes, as with kubectl


def test_deployment_undo_patch_is_kubectls_json_patch_conditional_on_the_resource_version():
    plan = plan_undo("Deployment", web("app:3", 3), entries())
    assert plan["changed"] and plan["action"] == "rolled back" and plan["entry"]["revision"] == 2
    assert plan["content_type"] == "application/json-patch+json"
    version, spec_template, annotations = plan["patch"]
    assert version == {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"}
    assert spec_template["path"] == "/spec/template" and spec_template["value"]["metadata"]["labels"] == {"app": "web"}
    assert annotations["path"] == "/metadata/annotations"
    assert annotations["value"][CHANGE_CAUSE_ANNOTATION] == "release 2"


def test_undo_to_the_current_template_is_skipped():
    plan = plan_undo("Deployment", web("app:3", 3), entries(), to_revision=3)
    assert (plan["changed"], plan["patch"], plan["action"]) == (
        False, None, "skipped rollback (current template already matches revision 3)")


def test_paused_deployment_is_refused_after_the_revision_is_found():
    with pytest.raises(UndoRefused) as refused:
        plan_undo("Deployment", web("app:3", 3, paused=True), entries(), to_revision=3)   # even when it matches
    assert refused.value.reason == PAUSED_REASON
    assert "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume'" in str(refused.value)
    with pytest.raises(UndoRefused) as refused:   # a missing revision is said first, as kubectl does
        plan_undo("Deployment", web("app:3", 3, paused=True, limit=2), entries(), to_revision=9)
    assert refused.value.reason == NOT_FOUND_REASON and "revisionHistoryLimit is 2" in str(refused.value)


def daemonset(image):
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "dev", "uid": "ds-uid",
                                                "resourceVersion": "7", "annotations": {"a": "b"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(image)}}


def controller_revision(image, revision, owner="ds-uid"):
    data_template = dict(template(image), **{"$patch": "replace"})
    return {"metadata": {"name": "agent-" + image[-1], "creationTimestamp": "2025-01-0%dT00:00:00Z" % revision,
                         "ownerReferences": [{"uid": owner, "controller": True}]},
            "revision": revision, "data": {"spec": {"template": data_template}}}


def test_controller_history_and_undo():
    revisions = [controller_revision("app:2", 2), controller_revision("app:1", 3), controller_revision("app:3", 1),
                 controller_revision("app:9", 9, owner="other")]
    workload = daemonset("app:1")
    history = controller_history(workload, revisions)
    assert [(e["revision"], e["images"], e["current"]) for e in history] == [
        (1, {"web": "app:3"}, False), (2, {"web": "app:2"}, False), (3, {"web": "app:1"}, True)]
    assert "$patch" not in history[0]["template"]
    plan = plan_undo("DaemonSet", workload, history)
    assert plan["entry"]["revision"] == 2
    assert plan["content_type"] == "application/strategic-merge-patch+json"
    assert plan["patch"]["spec"]["template"]["$patch"] == "replace"
    assert plan["patch"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert plan["patch"]["metadata"] == {"resourceVersion": "7"}
    assert plan["annotations"] == {"a": "b"}     # a DaemonSet's annotations are left alone
    assert not plan_undo("DaemonSet", workload, history, to_image="app:1")["changed"]


@pytest.mark.parametrize("kind, resources", [
    ("Deployment", {"deployments", "replicasets", "pods"}),
    ("DaemonSet", {"daemonsets", "controllerrevisions", "pods"}),
    ("StatefulSet", {"statefulsets", "controllerrevisions", "pods"}),
])
def test_rollout_undo_questions_are_the_documented_role(kind, resources):
    documented = yaml.safe_load(ROLE.read_text())["rules"]
    assert permissions(rollout_undo_rules(kind)) == permissions(documented, resources)
    assert RULE_SETS["set_image"] is set_image_rules   # rollout_preflight's default stays set_image's
