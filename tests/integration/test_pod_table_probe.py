"""The waiter's cheap probe (pod_watch.worth_listing) against the real API server's printed pods: every pod
the waiter would find in trouble when reading it in full has a STATUS that makes the probe read the pods in
full, and pods on their healthy way (pending, being created, running) do not."""

import time

import pytest

from collection_module_utils import client_of_kubeconfig, import_module_utils
from test_set_image_support import APP

pytestmark = pytest.mark.integration

PULL_FAILS = "registry.invalid/app:1"
CRASHES = APP + ":1-crash"
NOWHERE = {"kubedev.io/no-such-node": "true"}   # no node matches: the pod stays Pending, unscheduled

# name -> (init container images, container images, node selector)
PODS = {
    "healthy": ([], [APP + ":1"], None),
    "two-healthy": ([], [APP + ":1", APP + ":2"], None),
    "with-init": ([APP + ":init"], [APP + ":1"], None),
    "unscheduled": ([], [APP + ":1"], NOWHERE),
    "pull-fails": ([], [PULL_FAILS], None),
    "second-pull-fails": ([], [APP + ":1", PULL_FAILS], None),
    "first-pull-fails": ([], [PULL_FAILS, APP + ":1"], None),
    "init-pull-fails": ([PULL_FAILS], [APP + ":1"], None),
    "crashes": ([], [CRASHES], None),
    "second-crashes": ([], [APP + ":1", CRASHES], None),
}
HEALTHY = {"healthy", "two-healthy", "with-init", "unscheduled"}


def pod_body(name, inits, images, node_selector):
    def containers(prefix, refs):
        return [{"name": "%s%d" % (prefix, n), "image": ref} for n, ref in enumerate(refs)]

    spec = {"containers": containers("c", images), "terminationGracePeriodSeconds": 0}
    if inits:
        spec["initContainers"] = containers("i", inits)
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"probe": "table", "pod": name}},
            "spec": spec}


def troubled_pods(pods, summary_class):
    """What the waiter finds in trouble reading the pods in full (failing, or crash-looping at all)."""
    return sorted(summary_class(pod).name for pod in pods if summary_class(pod).troubled)


def test_the_printed_status_sends_every_troubled_pod_to_a_full_read(kubeconfig, core_v1, namespace):
    pod_failures, pod_watch, resources = import_module_utils("pod_failures", "pod_watch", "_k8s.resources")
    client = client_of_kubeconfig(kubeconfig)
    for name, (inits, images, node_selector) in PODS.items():
        core_v1.create_namespaced_pod(namespace, pod_body(name, inits, images, node_selector))

    # kwok plays the kubelet: wait until every failing pod shows its failure and the others run.
    expected_trouble = sorted(set(PODS) - HEALTHY)
    deadline = time.monotonic() + 90
    while True:
        pods = client.list(resources.PODS, namespace, label_selector="probe=table")["items"]
        running = sorted(p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running")
        troubled = troubled_pods(pods, pod_failures.PodSummary)
        if troubled == expected_trouble and set(running) >= HEALTHY - {"unscheduled"}:
            break
        assert time.monotonic() < deadline, "pods did not settle: troubled %s, running %s" % (troubled, running)
        time.sleep(0.5)

    table = client.table(resources.PODS, namespace, label_selector="probe=table")
    assert table["kind"] == "Table"
    assert sorted(row["cells"][0] for row in table["rows"]) == sorted(PODS)
    for row in table["rows"]:
        one = dict(table, rows=[row])
        name = row["cells"][0]
        assert pod_watch.worth_listing(one) is (name not in HEALTHY), (name, row["cells"])

    # What a probe sees for a selection: healthy pods alone need no full read; one troubled pod among them does.
    assert pod_watch.worth_listing(client.table(resources.PODS, namespace, label_selector="pod in (%s)" % ",".join(
        sorted(HEALTHY)))) is False
    assert pod_watch.worth_listing(client.table(resources.PODS, namespace, label_selector="pod in (%s)" % ",".join(
        sorted(HEALTHY | {"second-crashes"})))) is True
