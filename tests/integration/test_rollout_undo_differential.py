"""Differential: rollout_undo and rollout_history against `kubectl rollout undo` and `kubectl rollout history` on
the test cluster (issue 27).

Twin workloads of the same name live in two namespaces: kubectl undoes the one, the module the other, after the
same sequence of changes (the same manifest applied, the same patches). After every undo the revisions (kubectl's
listing of both twins, and the module's history), the resulting pod template, the annotations and `changed` must
agree. Refusals (a paused Deployment, a pruned revision) must be refusals of both, with nothing written. The undo
to an image that cannot be pulled is the one deliberate difference: the module fails fast with the reason while
`kubectl rollout status` keeps waiting to its deadline.
"""

import json
import re
import subprocess
import time
import uuid

import pytest

from conftest import wait_for
from rollout_race import WAITING, kubectl_verdict
from test_set_image_support import APP, RESOURCE, create, daemonset, deployment, kubectl, kubectl_path, read, \
    run_module, statefulset

pytestmark = pytest.mark.integration

CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture()
def twin_namespace(core_v1, namespace):
    """A second namespace for the module's twin (the `namespace` fixture's is kubectl's)."""
    name = namespace[:50] + "-m"
    core_v1.create_namespace({"metadata": {"name": name, "labels": {"kubedev-test": "true"}}})
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def comparable_annotations(obj):
    """The annotations, the namespace kubectl apply wrote into last-applied-configuration aside."""
    annotations = dict(obj["metadata"].get("annotations") or {})
    if LAST_APPLIED in annotations:
        applied = json.loads(annotations[LAST_APPLIED])
        applied["metadata"].pop("namespace", None)
        annotations[LAST_APPLIED] = applied
    return annotations


class Twins(object):
    """One workload in two namespaces: `kubectl` is undone by kubectl, `module` by rollout_undo."""

    def __init__(self, tmp_path, kubeconfig, apps_v1, kind, name, kubectl_ns, module_ns):
        self.tmp_path, self.kubeconfig, self.apps_v1 = tmp_path, kubeconfig, apps_v1
        self.kind, self.name = kind, name
        self.ref = "%s/%s" % (RESOURCE[kind], name)
        self.kubectl_ns, self.module_ns = kubectl_ns, module_ns
        self.both = (kubectl_ns, module_ns)

    def kubectl(self, namespace, *args, check=True, timeout=120):
        return kubectl(self.kubeconfig, "-n", namespace, *args, check=check, timeout=timeout)

    def apply(self, manifest):
        """The same manifest into both namespaces with kubectl apply (so both carry the same last-applied)."""
        path = self.tmp_path / ("%s.json" % uuid.uuid4().hex[:6])
        path.write_text(json.dumps(manifest))
        for namespace in self.both:
            self.kubectl(namespace, "apply", "-f", str(path))

    def change(self, image, cause=None, wait=True):
        """A new revision in both: the image and (when given) the change-cause in one patch, as a release writes them."""
        container = self.containers()[0]
        patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
        if cause:
            patch["metadata"] = {"annotations": {CHANGE_CAUSE: cause}}
        for namespace in self.both:
            self.kubectl(namespace, "patch", self.ref, "--type", "strategic", "-p", json.dumps(patch))
        if wait:
            self.settle()

    def settle(self, timeout="90s"):
        for namespace in self.both:
            self.kubectl(namespace, "rollout", "status", self.ref, "--timeout", timeout)

    def containers(self):
        return [c["name"] for c in self.read(self.kubectl_ns)["spec"]["template"]["spec"]["containers"]]

    def read(self, namespace):
        return read(self.apps_v1, namespace, self.kind, self.name)

    def kubectl_undo(self, to_revision=None):
        args = ["rollout", "undo", self.ref] + (["--to-revision=%d" % to_revision] if to_revision else [])
        proc = self.kubectl(self.kubectl_ns, *args, check=False)
        return proc.returncode, proc.stdout + proc.stderr

    def module_undo(self, **args):
        args = dict({"kind": self.kind, "name": self.name, "namespace": self.module_ns}, **args)
        result, _ = run_module(self.tmp_path, self.kubeconfig, "rollout_undo", args)
        return result

    def module_history(self, namespace):
        result, _ = run_module(self.tmp_path, self.kubeconfig, "rollout_history",
                               {"kind": self.kind, "name": self.name, "namespace": namespace})
        return result

    def kubectl_history(self, namespace):
        """kubectl rollout history's listing: [(revision, change-cause)]."""
        out = self.kubectl(namespace, "rollout", "history", self.ref).stdout
        rows = [line.split(None, 1) for line in out.splitlines() if re.match(r"^\d+\s", line)]
        return [(int(row[0]), row[1].strip() if len(row) > 1 else "") for row in rows]

    def undo_both(self, **module_args):
        """kubectl rollout undo (+ rollout status) on kubectl's twin, rollout_undo on the module's; returns
        (kubectl rc, kubectl output, module result)."""
        rc, output = self.kubectl_undo(module_args.get("to_revision"))
        if rc == 0:
            self.kubectl(self.kubectl_ns, "rollout", "status", self.ref, "--timeout", "90s")
        return rc, output, self.module_undo(**module_args)

    def assert_agree(self, kubectl_rc, kubectl_output, result):
        """changed, the revisions, the template and the annotations of both twins agree."""
        assert kubectl_rc == 0, kubectl_output
        assert not result.get("failed"), result
        kubectl_changed = "skipped rollback" not in kubectl_output
        assert "rolled back" in kubectl_output or not kubectl_changed, kubectl_output
        assert result["changed"] is kubectl_changed, (kubectl_output, result)
        assert result["targets"][0]["action"].split(" (")[0] == ("rolled back" if kubectl_changed else "skipped rollback")
        assert result["targets"][0]["status"] == "complete", result
        self.assert_same_state()

    def assert_same_state(self):
        ours, theirs = self.read(self.module_ns), self.read(self.kubectl_ns)
        assert ours["spec"]["template"] == theirs["spec"]["template"]
        assert comparable_annotations(ours) == comparable_annotations(theirs)
        assert ours["metadata"]["generation"] == theirs["metadata"]["generation"]
        listing = self.kubectl_history(self.kubectl_ns)
        assert self.kubectl_history(self.module_ns) == listing
        history = self.module_history(self.module_ns)
        assert [(r["revision"], r["change_cause"] or "<none>") for r in history["revisions"]] == listing
        other = self.module_history(self.kubectl_ns)
        assert [(r["revision"], r["images"], r["current"]) for r in history["revisions"]] == \
            [(r["revision"], r["images"], r["current"]) for r in other["revisions"]]
        # the current revision's template is the workload's
        (current,) = [r for r in history["revisions"] if r["current"]]
        assert history["current_revision"] == current["revision"]
        assert current["images"] == dict((c["name"], c["image"]) for c in ours["spec"]["template"]["spec"]["containers"])
        return history


def assert_unwritten(before, after):
    """Nothing was written to the spec or the annotations (the controllers may still write the status)."""
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def web_manifest(image=APP + ":1", **spec):
    body = deployment("web", image=image, replicas=2, **spec)
    body["metadata"]["annotations"] = {"team": "web", CHANGE_CAUSE: "release 1"}
    return body


def test_deployment_undo_steps_agree_with_kubectl(tmp_path, kubeconfig, apps_v1, namespace, twin_namespace):
    twins = Twins(tmp_path, kubeconfig, apps_v1, "Deployment", "web", namespace, twin_namespace)
    twins.apply(web_manifest())
    twins.settle()
    twins.change(APP + ":2", "release 2")
    twins.change(APP + ":3", "release 3")
    assert twins.kubectl_history(namespace) == [(1, "release 1"), (2, "release 2"), (3, "release 3")]

    # undo to the previous revision: revision 2's template and change-cause come back as revision 4
    kubectl_rc, output, result = twins.undo_both()
    twins.assert_agree(kubectl_rc, output, result)
    assert result["targets"][0]["from_revision"] == 3 and result["targets"][0]["to_revision"] == 2
    assert result["targets"][0]["revision"] == "4"
    live = twins.read(twin_namespace)
    assert live["metadata"]["annotations"][CHANGE_CAUSE] == "release 2"
    assert live["metadata"]["annotations"]["team"] == "web" and LAST_APPLIED in live["metadata"]["annotations"]

    # undo after an undo: back to what the first undo came from (revision 3, now the second highest)
    twins.assert_agree(*twins.undo_both())
    assert twins.read(twin_namespace)["spec"]["template"]["spec"]["containers"][0]["image"] == APP + ":3"

    # undo to revision N
    kubectl_rc, output, result = twins.undo_both(to_revision=1)
    twins.assert_agree(kubectl_rc, output, result)
    assert result["targets"][0]["images"] == {"web": APP + ":1"}
    history = twins.module_history(twin_namespace)
    assert history["current_revision"] == 6
    assert [r["revision"] for r in history["revisions"]] == [4, 5, 6]
    assert [r["revision_history"] for r in history["revisions"]] == [[2], [3], [1]]

    # undo when already at the target: kubectl skips, the module says changed=false and writes nothing
    before = twins.read(twin_namespace)["metadata"]["resourceVersion"]
    kubectl_rc, output, result = twins.undo_both(to_revision=6)
    twins.assert_agree(kubectl_rc, output, result)
    assert "skipped rollback (current template already matches revision 6)" in output
    assert result["targets"][0]["action"] == "skipped rollback (current template already matches revision 6)"
    assert twins.read(twin_namespace)["metadata"]["resourceVersion"] == before


def test_paused_deployment_is_refused_by_both(tmp_path, kubeconfig, apps_v1, namespace, twin_namespace):
    twins = Twins(tmp_path, kubeconfig, apps_v1, "Deployment", "web", namespace, twin_namespace)
    twins.apply(web_manifest())
    twins.settle()
    twins.change(APP + ":2", "release 2")
    for ns in twins.both:
        twins.kubectl(ns, "rollout", "pause", twins.ref)
    before = twins.read(twin_namespace)
    kubectl_rc, output = twins.kubectl_undo()
    result = twins.module_undo()
    assert kubectl_rc != 0 and "you cannot rollback a paused deployment" in output
    assert result["failed"] and not result["changed"]
    assert result["targets"][0]["reason"] == "DeploymentPaused"
    assert "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume'" in result["msg"]
    assert result["msg"].startswith("nothing was changed: ")
    assert_unwritten(before, twins.read(twin_namespace))
    twins.assert_same_state()


def test_pruned_revision_is_refused_by_both(tmp_path, kubeconfig, apps_v1, namespace, twin_namespace):
    twins = Twins(tmp_path, kubeconfig, apps_v1, "Deployment", "web", namespace, twin_namespace)
    twins.apply(web_manifest(revisionHistoryLimit=1))
    twins.settle()
    twins.change(APP + ":2", "release 2")
    twins.change(APP + ":3", "release 3")
    for ns in twins.both:   # the controller keeps one old ReplicaSet: revision 1 goes
        wait_for("revision 1 pruned in " + ns, lambda: [r for r, _ in twins.kubectl_history(ns)] == [2, 3])
    before = twins.read(twin_namespace)
    kubectl_rc, output = twins.kubectl_undo(to_revision=1)
    result = twins.module_undo(to_revision=1)
    assert kubectl_rc != 0 and "unable to find specified revision 1 in history" in output
    assert result["failed"] and not result["changed"]
    assert result["targets"][0]["reason"] == "RevisionNotFound"
    assert "unable to find specified revision 1 in history (revisions: 2, 3; revisionHistoryLimit is 1)" in result["msg"]
    assert_unwritten(before, twins.read(twin_namespace))
    twins.assert_same_state()


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_statefulset_and_daemonset_undo_agree_with_kubectl(tmp_path, kubeconfig, apps_v1, namespace, twin_namespace,
                                                           kind):
    name = {"StatefulSet": "db", "DaemonSet": "agent"}[kind]
    body = statefulset(name, replicas=2) if kind == "StatefulSet" else daemonset(name)
    body["metadata"]["annotations"] = {CHANGE_CAUSE: "release 1", "team": "data"}
    twins = Twins(tmp_path, kubeconfig, apps_v1, kind, name, namespace, twin_namespace)
    twins.apply(body)
    twins.settle()
    twins.change(APP + ":2", "release 2")
    twins.change(APP + ":3", "release 3")
    assert [r for r, _ in twins.kubectl_history(namespace)] == [1, 2, 3]

    kubectl_rc, output, result = twins.undo_both()                  # previous
    twins.assert_agree(kubectl_rc, output, result)
    assert result["targets"][0]["images"] == {twins.containers()[0]: APP + ":2"}
    # a StatefulSet's or DaemonSet's undo leaves the annotations alone: the change-cause stays "release 3"
    assert twins.read(twin_namespace)["metadata"]["annotations"][CHANGE_CAUSE] == "release 3"
    twins.assert_agree(*twins.undo_both())                          # undo after an undo
    twins.assert_agree(*twins.undo_both(to_revision=1))             # revision N
    history = twins.module_history(twin_namespace)
    twins.assert_agree(*twins.undo_both(to_revision=history["current_revision"]))   # already there


def test_undo_to_an_image_that_cannot_be_pulled(tmp_path, kubeconfig, apps_v1, namespace, twin_namespace):
    """The deliberate difference: the module fails fast, naming the pod and the reason; kubectl rollout status
    waits to its deadline (progressDeadlineSeconds is 600: kubectl's --timeout ends first)."""
    twins = Twins(tmp_path, kubeconfig, apps_v1, "Deployment", "web", namespace, twin_namespace)
    twins.apply(web_manifest())
    twins.settle()
    twins.change("registry.invalid/app:2", "release 2 (unpullable)", wait=False)
    for ns in twins.both:
        wait_for("revision 2 in " + ns, lambda: [r for r, _ in twins.kubectl_history(ns)] == [1, 2])
    twins.change(APP + ":3", "release 3")

    kubectl_rc, output = twins.kubectl_undo(to_revision=2)
    assert kubectl_rc == 0 and "rolled back" in output
    status = subprocess.Popen([kubectl_path(), "--kubeconfig", kubeconfig, "-n", namespace, "rollout", "status",
                               twins.ref, "--timeout", "60s"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        started = time.monotonic()
        result = twins.module_undo(to_revision=2, wait_timeout=60)
        module_seconds = time.monotonic() - started
        kubectl_still_waiting = status.poll() is None
        output, _ = status.communicate(timeout=180)
    finally:
        if status.poll() is None:
            status.kill()
    target = result["targets"][0]
    assert result["failed"] and result["changed"]
    assert target["status"] == "failed" and target["reason"] in ("ErrImagePull", "ImagePullBackOff"), result
    assert target["pod"] and "no such host" in target["message"]
    assert "The undo was written (Deployment %s/web to revision 2)" % twin_namespace in result["msg"]
    assert kubectl_still_waiting, (module_seconds, output)
    assert kubectl_verdict(status.returncode, output) == WAITING
    # both wrote the same undo
    ours, theirs = twins.read(twin_namespace), twins.read(namespace)
    assert ours["spec"]["template"] == theirs["spec"]["template"]
    assert comparable_annotations(ours) == comparable_annotations(theirs)
    assert twins.kubectl_history(twin_namespace) == twins.kubectl_history(namespace)
