#!/usr/bin/env python3
"""Benchmark: one kubedev.devloop.set_image task over 20 Deployments vs over one.

The targets are patched and waited for concurrently, so 20 should take about as long as one
(goal: at most 1.5 times). Each run uses fresh, identical Deployments that have finished their
first rollout. For scale, the cluster's own floor is measured too: the same image change patched
straight to the API (in parallel) and timed by an independent watch until every rollout is
complete - no tool can finish faster than the controllers roll out.
Prints the figures; asserts nothing. Needs scripts/testenv up (or KUBEDEV_TEST_KUBECONFIG).
Usage: scripts/bench_many_targets.py [--runs N] [--count N] [--replicas N]
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from benchlib import BENCH_IMAGE, KUBECONFIG
from benchlib import deployment, describe, kubectl, rollout_complete, run_task, scratch_namespace


def fresh(apps, namespace, count, replicas):
    names = ["b-%s-%02d" % (uuid.uuid4().hex[:5], i) for i in range(count)]
    for name in names:
        apps.create_namespaced_deployment(namespace, deployment(name, BENCH_IMAGE + ":1", replicas))
    for name in names:
        proc = kubectl("-n", namespace, "rollout", "status", "deployment/" + name, "--timeout", "300s", check=False)
        if proc.returncode != 0:
            pods = kubectl("-n", namespace, "get", "pods", "-o", "wide", "-l", "app=" + name, check=False).stdout
            raise SystemExit("setup: deployment/%s did not roll out: %s%s\n%s" % (name, proc.stdout, proc.stderr, pods))
    return names


def remove(apps, core, namespace, names):
    """Delete the Deployments and wait for their pods to go: the kwok nodes hold 110 pods each."""
    for name in names:
        apps.delete_namespaced_deployment(name, namespace, propagation_policy="Background")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        pods = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
        if not any(p["metadata"]["labels"].get("app") in names for p in pods):
            return
        time.sleep(0.5)
    raise SystemExit("cleanup: pods of %s still there after 300 s" % namespace)


def run_set_image(namespace, names, workdir):
    """Returns (wall seconds of ansible-playbook, seconds of the task itself)."""
    task = {"kubedev.devloop.set_image": {"kubeconfig": KUBECONFIG, "name": names, "namespace": namespace,
                                          "containers": {"web": BENCH_IMAGE + ":2"}, "wait_timeout": 600}}
    wall, start, end, result = run_task(task, workdir)
    if not all(t["status"] == "complete" for t in result["targets"]):
        raise SystemExit("set_image did not complete: %s" % result.get("msg"))
    return wall, end - start


def cluster_floor(apps, namespace, names):
    """Seconds from patching all `names` directly to an independent watch seeing all complete."""
    from kubernetes import watch

    listing = json.loads(apps.list_namespaced_deployment(namespace, _preload_content=False).data)
    done = {}
    finished = threading.Event()

    def judge():
        for event in watch.Watch().stream(apps.list_namespaced_deployment, namespace, timeout_seconds=600,
                                          resource_version=listing["metadata"]["resourceVersion"],
                                          _preload_content=False):
            obj = event["raw_object"]
            if obj["metadata"]["name"] in names and rollout_complete(obj, 2):
                done.setdefault(obj["metadata"]["name"], time.monotonic())
                if len(done) == len(names):
                    finished.set()
                    return

    threading.Thread(target=judge, daemon=True).start()
    time.sleep(0.5)  # let the watch connect
    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": BENCH_IMAGE + ":2"}]}}}}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda name: apps.patch_namespaced_deployment(name, namespace, body), names))
    finished.wait(600)
    return max(done.values()) - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()

    one, many, floor_one, floor_many = [], [], [], []
    with scratch_namespace("bench-many-") as (apps, core, namespace), tempfile.TemporaryDirectory() as workdir:
        def measure(results, count, how):
            names = fresh(apps, namespace, count, args.replicas)
            results.append(how(names))
            remove(apps, core, namespace, names)

        for _ in range(args.runs):  # alternate, so drift in cluster load hits all alike
            measure(one, 1, lambda names: run_set_image(namespace, names, workdir))
            measure(many, args.count, lambda names: run_set_image(namespace, names, workdir))
            measure(floor_one, 1, lambda names: cluster_floor(apps, namespace, names))
            measure(floor_many, args.count, lambda names: cluster_floor(apps, namespace, names))

    print("set_image with wait, Deployments of %d replicas, %d runs" % (args.replicas, args.runs))
    for label, index in (("task (module) time", 1), ("whole ansible-playbook run", 0)):
        single = [r[index] for r in one]
        multi = [r[index] for r in many]
        print("  %s:" % label)
        print("    1 Deployment:   %s" % describe(single))
        print("    %d Deployments: %s" % (args.count, describe(multi)))
        print("    ratio %.2f (target <= 1.5)" % (statistics.median(multi) / statistics.median(single)))
    print("  cluster floor (direct patches, independent watch until all complete):")
    print("    1 Deployment:   %s" % describe(floor_one))
    print("    %d Deployments: %s" % (args.count, describe(floor_many)))
    print("    ratio %.2f" % (statistics.median(floor_many) / statistics.median(floor_one)))
    print("  set_image task time minus the floor: 1 -> %.2f s, %d -> %.2f s" % (
        statistics.median([r[1] for r in one]) - statistics.median(floor_one), args.count,
        statistics.median([r[1] for r in many]) - statistics.median(floor_many)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
