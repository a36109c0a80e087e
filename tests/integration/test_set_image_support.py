"""Shared helpers of the set_image / rollout_status integration tests (this file holds no tests).

Tasks run through real `ansible-playbook` against the test cluster; results are read from the
ansible.posix.json stdout callback. Workloads are created from plain dicts and read back as the
API's JSON, so assertions see exactly what kubectl would.
"""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time


def _shared_conftest():
    """tests/conftest.py by path: a bare `import conftest` may find another conftest.py first."""
    path = pathlib.Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("kubedev_shared_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_shared = _shared_conftest()
ROOT, run_playbook = _shared.ROOT, _shared.run_playbook

# the test environment's kubectl, of the cluster's release (scripts/testenv.d/common.sh: KUBEDEV_CACHE)
CACHE = pathlib.Path(os.environ.get("KUBEDEV_CACHE")
                     or pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "kubedev")
KUBECTL_BUILT = CACHE / "kubernetes-v1.37.2" / "kubectl"
APP = "127.0.0.1:5000/app"   # kwok "pulls" anything not on a .invalid host


def kubectl_path():
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    if KUBECTL_BUILT.exists():
        return str(KUBECTL_BUILT)
    return shutil.which("kubectl") or "kubectl"


def kubectl(kubeconfig, *args, check=True, timeout=120):
    proc = subprocess.run([kubectl_path(), "--kubeconfig", kubeconfig, *args], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), proc.stdout, proc.stderr))
    return proc


def task_playbook(tmp_path, module, args, name="playbook.yml", interpreter=None):
    """A one-task playbook on localhost; JSON is valid YAML, so args need no quoting rules."""
    play = [{
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": interpreter or sys.executable},
        "tasks": [{"name": "under test", module: args}],
    }]
    path = pathlib.Path(tmp_path) / name
    path.write_text(json.dumps(play, indent=2))
    return path


def json_env(kubeconfig, extra=None):
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "K8S_AUTH_KUBECONFIG": kubeconfig}
    env.update(extra or {})
    return env


def parse_task_result(stdout):
    data = json.loads(stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def run_module(tmp_path, kubeconfig, module, args, flags=(), env=None, interpreter=None):
    """Run one module task; returns (task result dict, seconds the ansible-playbook run took)."""
    playbook = task_playbook(tmp_path, "kubedev.devloop." + module, args, interpreter=interpreter)
    started = time.monotonic()
    proc = run_playbook(playbook, *flags, check=False, env=json_env(kubeconfig, env))
    elapsed = time.monotonic() - started
    try:
        result = parse_task_result(proc.stdout)
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no JSON task result (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    assert (proc.returncode == 0) == (not result.get("failed")), (proc.returncode, result)
    return result, elapsed


def deployment(name, image=APP + ":1", replicas=2, labels=None, containers=None, init_containers=None,
               strategy=None, **spec_extra):
    labels = dict(labels or {}, app=name)
    pod_spec = {"containers": containers or [{"name": "web", "image": image}]}
    if init_containers:
        pod_spec["initContainers"] = init_containers
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}
    if strategy:
        spec["strategy"] = strategy
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}, "spec": spec}


def statefulset(name, image=APP + ":1", replicas=2, **spec_extra):
    spec = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "db", "image": image}]}}}
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": spec}


def daemonset(name, image=APP + ":1"):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "agent", "image": image}]}}}}


CREATE = {"Deployment": "create_namespaced_deployment", "StatefulSet": "create_namespaced_stateful_set",
          "DaemonSet": "create_namespaced_daemon_set"}
READ = {"Deployment": "read_namespaced_deployment", "StatefulSet": "read_namespaced_stateful_set",
        "DaemonSet": "read_namespaced_daemon_set"}
RESOURCE = {"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset"}


def create(apps_v1, kubeconfig, namespace, body, wait=True):
    getattr(apps_v1, CREATE[body["kind"]])(namespace, body)
    if wait:
        rollout_done(kubeconfig, namespace, body["kind"], body["metadata"]["name"])
    return read(apps_v1, namespace, body["kind"], body["metadata"]["name"])


def rollout_done(kubeconfig, namespace, kind, name, timeout="90s"):
    """The independent judge: kubectl rollout status."""
    kubectl(kubeconfig, "-n", namespace, "rollout", "status", "%s/%s" % (RESOURCE[kind], name), "--timeout", timeout)


def read(apps_v1, namespace, kind, name):
    """The object as the API's JSON (camelCase)."""
    resp = getattr(apps_v1, READ[kind])(name, namespace, _preload_content=False)
    return json.loads(resp.data)


def images(obj):
    spec = obj["spec"]["template"]["spec"]
    return dict((c["name"], c["image"]) for c in spec.get("initContainers", []) + spec["containers"])


def replicasets(apps_v1, namespace, app):
    resp = apps_v1.list_namespaced_replica_set(namespace, label_selector="app=" + app, _preload_content=False)
    return json.loads(resp.data)["items"]


def repo_path(*parts):
    return ROOT.joinpath(*parts)
