#!/usr/bin/env python3
"""Benchmark: how soon after a rollout completes does the waiting tool return?

An independent watch (the kubernetes client's own, in this process) timestamps the moment the
Deployment meets `kubectl rollout status`'s rule. Against it we time:
  1. kubedev.devloop.set_image (wait: true)  - task end (ansible.posix.json) minus completion
  2. kubernetes.core.k8s (wait: true)        - same, for comparison (it polls every wait_sleep = 5 s)
and, on identical fresh Deployments,
  3. set_image + wait vs `kubectl set image && kubectl rollout status` (wall time and task time).

Prints the figures; asserts nothing. Needs the test environment (scripts/testenv up) or
KUBEDEV_TEST_KUBECONFIG. Usage: scripts/bench_rollout_wait.py [--runs N] [--replicas N]
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid

from benchlib import BENCH_IMAGE, KUBECONFIG
from benchlib import deployment, describe, kubectl, rollout_complete, run_task, scratch_namespace


class Judge(threading.Thread):
    """Watches one Deployment and records when it first becomes complete at `generation`."""

    def __init__(self, apps, namespace, name, generation):
        super().__init__(daemon=True)
        self.apps, self.namespace, self.name, self.generation = apps, namespace, name, generation
        self.completed_at = None
        self.ready = threading.Event()

    def run(self):
        from kubernetes import watch

        listing = json.loads(self.apps.list_namespaced_deployment(
            self.namespace, field_selector="metadata.name=" + self.name, _preload_content=False).data)
        version = listing["metadata"]["resourceVersion"]
        self.ready.set()
        stream = watch.Watch().stream(self.apps.list_namespaced_deployment, self.namespace,
                                      field_selector="metadata.name=" + self.name, resource_version=version,
                                      timeout_seconds=300, _preload_content=False)
        for event in stream:
            obj = event["raw_object"]
            if rollout_complete(obj, self.generation):
                self.completed_at = time.time()
                return


def fresh(apps, namespace, replicas):
    name = "b-" + uuid.uuid4().hex[:8]
    apps.create_namespaced_deployment(namespace, deployment(name, BENCH_IMAGE + ":1", replicas))
    kubectl("-n", namespace, "rollout", "status", "deployment/" + name, "--timeout", "120s")
    return name


def remove(apps, namespace, name):
    """The kwok nodes hold 110 pods each: do not let finished runs pile up."""
    apps.delete_namespaced_deployment(name, namespace, propagation_policy="Foreground")


def set_image_task(namespace, name):
    return {"kubedev.devloop.set_image": {"kubeconfig": KUBECONFIG, "name": name, "namespace": namespace,
                                          "containers": {"web": BENCH_IMAGE + ":2"}, "wait_timeout": 300}}


def k8s_task(namespace, name, replicas):
    return {"kubernetes.core.k8s": {"kubeconfig": KUBECONFIG, "namespace": namespace, "state": "present",
                                    "definition": deployment(name, BENCH_IMAGE + ":2", replicas),
                                    "wait": True, "wait_timeout": 300}}


def latency(apps, namespace, replicas, workdir, make_task):
    name = fresh(apps, namespace, replicas)
    judge = Judge(apps, namespace, name, generation=2)
    judge.start()
    judge.ready.wait(30)
    end = run_task(make_task(name), workdir)[2]
    judge.join(30)
    remove(apps, namespace, name)
    return end - judge.completed_at


def versus_kubectl(apps, namespace, replicas, workdir):
    name = fresh(apps, namespace, replicas)
    started = time.monotonic()
    kubectl("-n", namespace, "set", "image", "deployment/" + name, "web=%s:2" % BENCH_IMAGE)
    kubectl("-n", namespace, "rollout", "status", "deployment/" + name, "--timeout", "300s")
    kubectl_seconds = time.monotonic() - started
    remove(apps, namespace, name)
    name = fresh(apps, namespace, replicas)
    wall, start, end, _result = run_task(set_image_task(namespace, name), workdir)
    remove(apps, namespace, name)
    return kubectl_seconds, wall, end - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()

    with scratch_namespace("bench-wait-") as (apps, _core, namespace), tempfile.TemporaryDirectory() as workdir:
        # Rollouts of different lengths (more replicas, one pod at a time): a poller's delay
        # depends on where completion falls in its sleep, a watcher's does not.
        shapes = [args.replicas + run for run in range(args.runs)]
        ours = [latency(apps, namespace, replicas, workdir, lambda n: set_image_task(namespace, n))
                for replicas in shapes]
        theirs = [latency(apps, namespace, replicas, workdir,
                          lambda n, replicas=replicas: k8s_task(namespace, n, replicas)) for replicas in shapes]
        pairs = [versus_kubectl(apps, namespace, args.replicas, workdir) for _ in range(args.runs)]
        # What any module pays per task here (fork, AnsiballZ, interpreter start): the floor.
        ping = [run_task({"ansible.builtin.ping": {}}, workdir)[1:3] for _ in range(args.runs)]
        ping = [end - start for start, end in ping]

    print("rollout complete -> task returned (Deployments of %s replicas)" % ", ".join(map(str, shapes)))
    print("  kubedev.devloop.set_image wait: %s   (target < 0.5 s)" % describe(ours))
    print("  kubernetes.core.k8s wait:       %s" % describe(theirs))
    kubectl_s = [p[0] for p in pairs]
    wall_s = [p[1] for p in pairs]
    task_s = [p[2] for p in pairs]
    print("set image + wait for the rollout, same Deployment shape (%d replicas)" % args.replicas)
    print("  kubectl set image && kubectl rollout status: %s" % describe(kubectl_s))
    print("  set_image task (module time):                %s  ratio %.2f (target <= 1.1)"
          % (describe(task_s), statistics.median(task_s) / statistics.median(kubectl_s)))
    print("  whole ansible-playbook run:                  %s  ratio %.2f"
          % (describe(wall_s), statistics.median(wall_s) / statistics.median(kubectl_s)))
    print("  for scale, an ansible.builtin.ping task:     %s" % describe(ping))
    return 0


if __name__ == "__main__":
    sys.exit(main())
