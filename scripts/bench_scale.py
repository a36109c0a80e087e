#!/usr/bin/env python3
"""Benchmark: kubedev.devloop.set_image at cluster scale, side by side with kubectl on the same rollouts.

Scenarios (on the test environment's kwok nodes, 100 of them during the run):
  big   one Deployment of 1,000 replicas
  many  50 Deployments of 20 replicas, one task (label_selectors)
  busy  one Deployment of 10 replicas, in an empty namespace and then among 5,000 unrelated pods

Each run changes the image once. set_image (wait: true) runs through ansible-playbook; as soon as its
patch is visible, `kubectl rollout status` starts on the same rollout (kubectl's `set image` is counted as
a server-side dry run of the same change beforehand). An independent watch (this process, its own
connection) notes when each rollout is complete by kubectl's rule. Per tool: CPU (user+sys) and peak RSS
of its own process, requests as the API server counts them, bytes received on the wire, and when it
returned after the rollout was complete (see bench_meters.py for how each is measured).

Prints every run and the medians against the goals of issue 12; exits 1 when a goal is missed.
Needs `scripts/testenv up`; adds kwok nodes with `scripts/testenv kwok-nodes` and removes them at the end.
Usage: .venv/bin/python scripts/bench_scale.py [--runs 3] [--scenarios big,many,busy] [--kwok-nodes 100]
ANSIBLE_COLLECTIONS_PATH=<dir> measures another copy of the collection (for before/after figures).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench_meters import (
    Identity,
    create_priority_level,
    delete_priority_level,
    dispatched,
    load_average,
    measuring_interpreter,
    requests_between,
    run_measured,
    wait_for_quiet,
)
from benchlib import BENCH_IMAGE, KUBECONFIG, KUBECTL, ROOT, kubectl, rollout_complete, run_task, unique_name

GROUP_LABEL = "kubedev.io/bench-group"
GOAL_RETURN = 0.5          # s from complete to the task's return
GOAL_RSS_MB = 100          # at 1,000 replicas
GOAL_CPU_RATIO = 2.0       # module CPU / kubectl CPU at 1,000 replicas
SAME_TOLERANCE = 0.10      # "independent": within 10 % (bytes, memory) or no more (requests)
# Both tools see the same watch event on their own connections; which of the two processes two busy cores
# run first is chance, worth some 10 ms either way. A verdict later by more than this is a real one.
TIE_TOLERANCE = 0.05
# scenario -> (Deployments, replicas each); busy is measured in an empty namespace, then a crowded one.
SCENARIOS = {"big": (1, 1000), "many": (50, 20), "busy": (1, 10)}


class Judge(threading.Thread):
    """Watches a group's Deployments; notes when all carry the new generation (patched) and when each
    is complete at it (epoch seconds)."""

    def __init__(self, apps, namespace, selector, generations):
        super().__init__(daemon=True)
        self.apps, self.namespace, self.selector, self.generations = apps, namespace, selector, generations
        self.patched_at = None
        self.complete_at = {}
        self.ready, self.patched, self.done = threading.Event(), threading.Event(), threading.Event()

    def run(self):
        from kubernetes import watch

        listing = json.loads(self.apps.list_namespaced_deployment(
            self.namespace, label_selector=self.selector, _preload_content=False).data)
        self.ready.set()
        seen = {}
        for event in watch.Watch().stream(self.apps.list_namespaced_deployment, self.namespace,
                                          label_selector=self.selector, timeout_seconds=900,
                                          resource_version=listing["metadata"]["resourceVersion"],
                                          _preload_content=False):
            obj, now = event["raw_object"], time.time()
            name = obj["metadata"]["name"]
            if name not in self.generations:
                continue
            if obj["metadata"]["generation"] >= self.generations[name]:
                seen[name] = True
                if len(seen) == len(self.generations) and not self.patched.is_set():
                    self.patched_at = now
                    self.patched.set()
            if name not in self.complete_at and rollout_complete(obj, self.generations[name]):
                self.complete_at[name] = now
                if len(self.complete_at) == len(self.generations):
                    self.done.set()
                    return


class Group:
    """Deployments of one scenario in their own namespace, all labelled GROUP_LABEL=<name>."""

    def __init__(self, ctx, name, count, replicas):
        self.ctx, self.name, self.replicas = ctx, name, replicas
        self.namespace = unique_name("bench-scale-%s-" % name)
        self.deployments = ["%s-%02d" % (name, i) for i in range(count)] if count > 1 else [name]
        self.selector = "%s=%s" % (GROUP_LABEL, name)
        self.tag = 0

    def create(self):
        self.ctx.core.create_namespace({"metadata": {"name": self.namespace}})
        for name in self.deployments:
            self.ctx.apps.create_namespaced_deployment(self.namespace, {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {GROUP_LABEL: self.name}},
                "spec": {"replicas": self.replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"terminationGracePeriodSeconds": 0,
                                               "containers": [{"name": "web", "image": BENCH_IMAGE + ":r0"}]}}}})
        kubectl("-n", self.namespace, "rollout", "status", "deployment", "-l", self.selector, "--timeout", "900s")

    def generations(self):
        items = json.loads(self.ctx.apps.list_namespaced_deployment(
            self.namespace, label_selector=self.selector, _preload_content=False).data)["items"]
        return dict((d["metadata"]["name"], d["metadata"]["generation"] + 1) for d in items)


class Context:
    def __init__(self, workdir):
        from kubernetes import client, config

        self.apps = client.AppsV1Api(config.new_client_from_config(config_file=KUBECONFIG))
        self.core = client.CoreV1Api(self.apps.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.apps.api_client)
        self.workdir = workdir
        self.namespaces = []
        self.identities_namespace = unique_name("bench-scale-ids-")
        self.module = Identity("module", self.identities_namespace, workdir)
        self.kubectl = Identity("kubectl", self.identities_namespace, workdir)
        self.interpreter = measuring_interpreter(workdir)
        self.rusage_log = "%s/rusage-%s.jsonl" % (workdir, uuid.uuid4().hex[:6])


def kwok_node_count(ctx):
    return len(ctx.core.list_node(label_selector="type=kwok").items)


def set_kwok_nodes(count):
    proc = subprocess.run([str(ROOT / "scripts" / "testenv"), "kwok-nodes", str(count)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit("bench: scripts/testenv kwok-nodes %d failed: %s" % (count, proc.stderr[-2000:]))


def add_bystanders(ctx, namespace, count, nodes):
    """count bare pods of other apps, bound round-robin to the kwok nodes; returns when kwok runs them all."""
    node_names = sorted(n.metadata.name for n in ctx.core.list_node(label_selector="type=kwok").items)[:nodes]

    def create(i):
        ctx.core.create_namespaced_pod(namespace, {"metadata": {
            "name": "bystander-%05d" % i, "labels": {"app": "bystander-%02d" % (i % 50), "kubedev.io/bench": "bystander"}},
            "spec": {"nodeName": node_names[i % len(node_names)], "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": BENCH_IMAGE + ":r0"}]}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(count)))
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        page = ctx.core.list_namespaced_pod(namespace, field_selector="status.phase!=Running", limit=1)
        if not page.items:
            return
        time.sleep(3)
    sys.exit("bench: the %d unrelated pods did not all run within 900 s" % count)


def measure(ctx, group, quiet_load):
    """One image change of the group's Deployments: set_image and kubectl rollout status side by side."""
    load = wait_for_quiet(quiet_load)
    group.tag += 1
    image = "%s:r%d" % (BENCH_IMAGE, group.tag)
    judge = Judge(ctx.apps, group.namespace, group.selector, group.generations())
    judge.start()
    judge.ready.wait(30)
    by_selector = len(group.deployments) > 1
    what = ["deployment", "-l", group.selector] if by_selector else ["deployment/" + group.deployments[0]]
    kubectl_base = [KUBECTL, "--kubeconfig", ctx.kubectl.kubeconfig, "-n", group.namespace]
    before, bytes_before = dispatched(), (ctx.module.relay.received, ctx.kubectl.relay.received)

    # kubectl's half of `set image`: the same patch, as a server-side dry run (the module's patch makes the rollout).
    rc, set_usage, _, out = run_measured(kubectl_base + ["set", "image", *what, "web=" + image, "--dry-run=server"])
    if rc:
        sys.exit("bench: kubectl set image --dry-run=server failed: " + out)

    task = {"kubedev.devloop.set_image": {
        "kubeconfig": ctx.module.kubeconfig, "namespace": group.namespace, "containers": {"web": image},
        "wait_timeout": 900, **({"label_selectors": [group.selector]} if by_selector else {"name": group.deployments[0]})}}
    module = {}

    def run_module():
        try:
            module["wall"], module["start"], module["end"], module["result"] = run_task(
                task, ctx.workdir, interpreter=ctx.interpreter, env={"KUBEDEV_RUSAGE_LOG": ctx.rusage_log})
        except SystemExit as exc:   # run_task's way of saying the task failed
            module["error"] = str(exc)

    runner = threading.Thread(target=run_module)
    runner.start()
    if not judge.patched.wait(120):
        sys.exit("bench: the module's patch did not show within 120 s")
    rc, status_usage, kubectl_end, out = run_measured(kubectl_base + ["rollout", "status", *what, "--timeout", "900s"])
    if rc:
        sys.exit("bench: kubectl rollout status failed: " + out)
    runner.join()
    if "error" in module:
        sys.exit("bench: set_image: " + module["error"])
    judge.done.wait(60)
    after = dispatched()
    with open(ctx.rusage_log) as log:
        module_usage = json.loads(log.readlines()[-1])
    complete = max(judge.complete_at.values())
    return {
        "load": load,
        "rollout": complete - judge.patched_at,
        "module": {"cpu": module_usage["user"] + module_usage["sys"], "user": module_usage["user"],
                   "sys": module_usage["sys"], "rss_mb": module_usage["maxrss_kb"] / 1024.0,
                   "requests": requests_between(before, after, ctx.module),
                   "bytes": ctx.module.relay.received - bytes_before[0], "after_complete": module["end"] - complete,
                   "exited_after_complete": module_usage["ended"] - complete},
        "kubectl": {"cpu": sum(u["user"] + u["sys"] for u in (set_usage, status_usage)),
                    "rss_mb": max(set_usage["maxrss_kb"], status_usage["maxrss_kb"]) / 1024.0,
                    "requests": requests_between(before, after, ctx.kubectl),
                    "bytes": ctx.kubectl.relay.received - bytes_before[1], "after_complete": kubectl_end - complete,
                    "exited_after_complete": kubectl_end - complete},
    }


def measure_and_show(ctx, group, label, run_no, quiet_load):
    record = measure(ctx, group, quiet_load)
    show_run("%s run %d" % (label, run_no), record)
    return record


def show_run(label, record):
    m, k = record["module"], record["kubectl"]
    print("  %-22s load %.2f, rollout %.1f s | module cpu %.2f s (user %.2f, sys %.2f), %d requests %s, %.2f MB, "
          "rss %.0f MB, exited %+.2f s, task returned %+.2f s | kubectl cpu %.2f s, %d requests, %.2f MB, rss %.0f MB, "
          "exited %+.2f s" % (
              label, record["load"], record["rollout"], m["cpu"], m["user"], m["sys"], m["requests"]["total"],
              json.dumps(dict((v, n) for v, n in m["requests"].items() if v != "total" and n)), m["bytes"] / 1e6,
              m["rss_mb"], m["exited_after_complete"], m["after_complete"], k["cpu"], k["requests"]["total"],
              k["bytes"] / 1e6, k["rss_mb"], k["after_complete"]))
    sys.stdout.flush()


def median(records, tool, key):
    values = [r[tool][key]["total"] if key == "requests" else r[tool][key] for r in records]
    return statistics.median(values), min(values), max(values)


def summary(name, records):
    print("%s (median, min..max over %d runs)" % (name, len(records)))
    for key, unit, scale in (("cpu", "s", 1), ("requests", "", 1), ("bytes", "MB", 1e-6), ("rss_mb", "MB", 1),
                             ("exited_after_complete", "s", 1), ("after_complete", "s", 1)):
        parts = []
        for tool in ("module", "kubectl"):
            mid, low, high = median(records, tool, key)
            parts.append("%s %.2f%s (%.2f..%.2f)" % (tool, mid * scale, unit, low * scale, high * scale))
        print("  %-22s %s" % (key.replace("after_complete", "after complete"), "   ".join(parts)))
    rollout = [r["rollout"] for r in records]
    print("  %-22s %.1f s (%.1f..%.1f)" % ("rollout (patch->complete)", statistics.median(rollout), min(rollout), max(rollout)))


def goals(results):
    """(description, met) for each goal of issue 12 the scenarios that ran can judge."""
    checks = []
    med = dict((name, dict((f"{tool}.{key}", median(records, tool, key)[0]) for tool in ("module", "kubectl")
                           for key in ("cpu", "requests", "bytes", "rss_mb", "after_complete")))
               for name, records in results.items())
    for name, records in results.items():
        worst = max(r["module"]["after_complete"] for r in records)
        checks.append(("%s: the task returns within %.1f s of completion (worst %.2f s)" % (name, GOAL_RETURN, worst),
                       worst <= GOAL_RETURN))
        # The verdict: when each tool's process ends with its answer (Ansible's own handling of the result follows).
        late = [r["module"]["exited_after_complete"] - r["kubectl"]["exited_after_complete"] for r in records]
        checks.append(("%s: never later to a verdict than kubectl (module exit - kubectl exit, worst %+.2f s, ties "
                       "within %.2f s)" % (name, max(late), TIE_TOLERANCE), max(late) <= TIE_TOLERANCE))
    if "big" in med:
        ratio = med["big"]["module.cpu"] / med["big"]["kubectl.cpu"]
        checks.append(("big: CPU within %.0fx of kubectl's (%.2fx)" % (GOAL_CPU_RATIO, ratio), ratio <= GOAL_CPU_RATIO))
        checks.append(("big: peak RSS under %d MB (%.0f MB)" % (GOAL_RSS_MB, med["big"]["module.rss_mb"]),
                       med["big"]["module.rss_mb"] < GOAL_RSS_MB))
    if "busy-empty" in med and "busy-crowded" in med:
        quiet, busy = med["busy-empty"], med["busy-crowded"]
        checks.append(("busy: requests independent of 5,000 unrelated pods (%d vs %d)" % (
            quiet["module.requests"], busy["module.requests"]), busy["module.requests"] <= quiet["module.requests"]))
        # Only an answer about pods could grow with them: the module asks none here. Its other bytes are the
        # Deployment's and ReplicaSets' watch events, which follow the rollout's length (a crowded namespace's
        # rollout can take longer), so they are compared per second of rollout.
        pod_requests = [sum(r["module"]["requests"]["pods"] for r in results[name]) for name in ("busy-empty", "busy-crowded")]
        checks.append(("busy: no more requests on pods among unrelated pods (%d vs %d over all runs)" % tuple(pod_requests),
                       pod_requests[1] <= pod_requests[0]))
        rate = dict((name, statistics.median(r["module"]["bytes"] / r["rollout"] for r in results[name]))
                    for name in ("busy-empty", "busy-crowded"))
        checks.append(("busy: bytes independent of unrelated pods (%.2f vs %.2f MB; %.0f vs %.0f kB per second of "
                       "rollout)" % (quiet["module.bytes"] / 1e6, busy["module.bytes"] / 1e6,
                                     rate["busy-empty"] / 1e3, rate["busy-crowded"] / 1e3),
                       rate["busy-crowded"] <= rate["busy-empty"] * (1 + SAME_TOLERANCE)))
        checks.append(("busy: memory independent of unrelated pods (%.0f vs %.0f MB)" % (
            quiet["module.rss_mb"], busy["module.rss_mb"]),
            busy["module.rss_mb"] <= quiet["module.rss_mb"] * (1 + SAME_TOLERANCE)))
        if "big" in med:
            # Pod requests here are stall probes (pod_watch.py): one per pause of 2 s or more, whatever the replicas.
            probes = statistics.median(r["module"]["requests"]["pods"] for r in results["big"])
            checks.append(("requests independent of replicas (1,000: %d, of them %d on pods; 10: %d)" % (
                med["big"]["module.requests"], probes, quiet["module.requests"]),
                med["big"]["module.requests"] <= quiet["module.requests"]))
    return checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="big,many,busy")
    parser.add_argument("--kwok-nodes", type=int, default=100)
    parser.add_argument("--bystanders", type=int, default=5000)
    parser.add_argument("--quiet-load", type=float, default=1.0,
                        help="wait for the 1-minute load average to drop below this before each run")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")

    workdir = tempfile.mkdtemp(prefix="kubedev-bench-scale-")
    ctx = Context(workdir)
    nodes_before = kwok_node_count(ctx)
    results = {}
    try:
        set_kwok_nodes(args.kwok_nodes)
        ctx.core.create_namespace({"metadata": {"name": ctx.identities_namespace}})
        ctx.namespaces.append(ctx.identities_namespace)
        create_priority_level()
        ctx.module.create(ctx.core, ctx.rbac)
        ctx.kubectl.create(ctx.core, ctx.rbac)
        print("load average before setup: %.2f; kwok nodes: %d" % (load_average(), args.kwok_nodes))
        for scenario in scenarios:
            count, replicas = SCENARIOS[scenario]
            group = Group(ctx, scenario, count, replicas)
            ctx.namespaces.append(group.namespace)
            started = time.monotonic()
            group.create()
            print("%s: %d Deployment(s) of %d replicas ready after %.0f s" % (
                scenario, count, replicas, time.monotonic() - started))
            label = "busy-empty" if scenario == "busy" else scenario
            results[label] = [measure_and_show(ctx, group, label, run_no, args.quiet_load)
                              for run_no in range(1, args.runs + 1)]
            if scenario == "busy":
                started = time.monotonic()
                add_bystanders(ctx, group.namespace, args.bystanders, args.kwok_nodes)
                print("busy: %d unrelated pods running after %.0f s" % (args.bystanders, time.monotonic() - started))
                label = "busy-crowded"
                results[label] = [measure_and_show(ctx, group, label, run_no, args.quiet_load)
                                  for run_no in range(1, args.runs + 1)]
    finally:
        cleanup(ctx, nodes_before)

    print()
    for name, records in results.items():
        summary(name, records)
    print()
    checks = goals(results)
    for description, met in checks:
        print("  [%s] %s" % ("met" if met else "MISSED", description))
    return 0 if all(met for _description, met in checks) else 1


def cleanup(ctx, nodes_before):
    """Namespaces first (their pods must be gone before their nodes are), then the nodes and the meters."""
    for namespace in ctx.namespaces:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    kubectl("wait", "--for=delete", "namespace", *ctx.namespaces, "--timeout=900s", check=False)
    for identity in (ctx.module, ctx.kubectl):
        identity.delete(ctx.rbac)
    delete_priority_level()
    set_kwok_nodes(max(2, nodes_before))


if __name__ == "__main__":
    sys.exit(main())
