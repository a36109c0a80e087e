"""pod_watch.worth_listing: which printed pods send a probe on to read them in full (the statuses as the
real API server prints them: tests/integration/test_pod_table_probe.py)."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.pod_watch import worth_listing

COLUMNS = [{"name": name} for name in ("Name", "Ready", "Status", "Restarts", "Age")]


def table(*statuses, columns=COLUMNS):
    return {"kind": "Table", "columnDefinitions": columns,
            "rows": [{"cells": ["pod-%d" % n, "0/1", status, "0", "1s"]} for n, status in enumerate(statuses)]}


@pytest.mark.parametrize("statuses", [
    (), ("Running",), ("Pending", "ContainerCreating", "PodInitializing"), ("Init:0/2", "Init:1/2"),
    ("Terminating", "SchedulingGated"),
])
def test_healthy_pods_need_no_full_read(statuses):
    assert worth_listing(table(*statuses)) is False


@pytest.mark.parametrize("status", [
    "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError", "Init:ErrImagePull",
    "Init:CrashLoopBackOff", "Init:Error", "Error", "Completed", "NotReady", "OOMKilled", "Unknown", "Evicted", "SomethingNew", None,
])
def test_any_other_status_among_healthy_ones_does(status):
    assert worth_listing(table("Running", status, "Pending")) is True


def test_an_answer_it_cannot_read_sends_it_to_the_full_list():
    assert worth_listing({"kind": "PodList", "items": []}) is True
    assert worth_listing(table("Running", columns=[{"name": "Name"}, {"name": "Phase"}])) is True
    assert worth_listing({"kind": "Table", "columnDefinitions": COLUMNS, "rows": [{"cells": ["pod-0"]}]}) is True
