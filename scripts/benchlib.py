"""What the benchmarks (scripts/bench_*.py) share: where things are, commands, one-task playbooks,
a scratch namespace on the test cluster, the rollout rule and the figures.

The scripts run as `.venv/bin/python scripts/bench_X.py`, so this directory is on sys.path.
"""

import contextlib
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
# The same places as scripts/testenv.d/common.sh: testenv builds kubectl there and writes the kubeconfig.
CACHE = pathlib.Path(os.environ.get("KUBEDEV_CACHE")
                     or pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "kubedev")
KUBECTL = os.environ.get("KUBECTL", str(CACHE / "kubernetes-v1.37.2" / "kubectl"))
KUBECONFIG = os.environ.get("KUBEDEV_TEST_KUBECONFIG", str(ROOT / ".testenv" / "kubeconfig"))
REGISTRY = "127.0.0.1:" + os.environ.get("KUBEDEV_REGISTRY_PORT", "5000")
# Images of the rollout benchmarks; kwok nodes "pull" any image not on a .invalid host, so it need not exist.
BENCH_IMAGE = "127.0.0.1:5000/bench-app"


def unique_name(prefix):
    return prefix + uuid.uuid4().hex[:6]


def run(cmd, env=None, check=True):
    """Run a command from the repository root; exits with its output when it fails (and check is set)."""
    proc = subprocess.run([str(part) for part in cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit("%s: %s failed:\n%s\n%s" % (pathlib.Path(sys.argv[0]).stem, " ".join(map(str, cmd)),
                                             proc.stdout[-4000:], proc.stderr[-4000:]))
    return proc


def kubectl(*args, check=True):
    return run([KUBECTL, "--kubeconfig", KUBECONFIG, *args], check=check)


def timed(func):
    start = time.monotonic()
    func()
    return time.monotonic() - start


def deployment(name, image, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def rollout_complete(obj, generation):
    """kubectl rollout status's rule for a Deployment, at or past `generation`."""
    meta, spec, status = obj["metadata"], obj["spec"], obj.get("status") or {}
    if meta["generation"] < generation or status.get("observedGeneration", 0) < meta["generation"]:
        return False
    updated = status.get("updatedReplicas", 0)
    return (updated >= spec.get("replicas", 1) and status.get("replicas", 0) <= updated
            and status.get("availableReplicas", 0) >= updated)


@contextlib.contextmanager
def scratch_namespace(prefix):
    """A new namespace on the test cluster, deleted at the end; yields (AppsV1Api, CoreV1Api, name)."""
    from kubernetes import client, config

    apps = client.AppsV1Api(config.new_client_from_config(config_file=KUBECONFIG))
    core = client.CoreV1Api(apps.api_client)
    namespace = unique_name(prefix)
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        yield apps, core, namespace
    finally:
        core.delete_namespace(namespace)


def run_task(task, workdir, interpreter=None, env=None):
    """One-task playbook on localhost through ansible-playbook; exits when the task fails.

    Returns (wall seconds, task start, task end, task result); start and end are the
    ansible.posix.json callback's timestamps as epoch seconds. interpreter: what runs the module
    (default: the project's Python); env: more environment variables.
    """
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": interpreter or str(VENV_BIN / "python")}, "tasks": [task]}]
    path = pathlib.Path(workdir) / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1", **(env or {}))
    started = time.monotonic()
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    task_data = json.loads(proc.stdout)["plays"][0]["tasks"][0]
    result = task_data["hosts"]["localhost"]
    if result.get("failed"):
        sys.exit("task failed: %s" % result.get("msg"))
    duration = task_data["task"]["duration"]
    return wall, _epoch(duration["start"]), _epoch(duration["end"]), result


def _epoch(text):
    return datetime.datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=datetime.timezone.utc).timestamp()


def describe(values):
    return "median %.2f s (min %.2f, max %.2f, n=%d)" % (statistics.median(values), min(values), max(values), len(values))
