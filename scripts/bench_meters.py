"""Meters for scripts/bench_scale.py that do not trust the tool being measured.

- Requests: the API server counts them. Each measured tool gets a ServiceAccount of its own, and
  FlowSchemas (API Priority and Fairness) that match only that account: one for its requests on pods (any
  verb: the only answers that unrelated pods or more replicas could make bigger), then one per verb for
  the rest. The API server's apiserver_flowcontrol_dispatched_requests_total{flow_schema=...} then
  counts its requests.
- Bytes received: each tool talks to the API server through its own TCP relay (TLS passes through
  untouched), which counts the bytes coming back: what arrived on the wire.
- CPU and peak RSS: getrusage of the tool's own process (os.wait4), for the module through an
  interpreter wrapper that Ansible runs the module with.
"""

import json
import os
import pathlib
import re
import socket
import stat
import subprocess
import sys
import threading
import time

import yaml

from benchlib import KUBECONFIG, KUBECTL, kubectl

PRIORITY_LEVEL = "kubedev-bench"
VERBS = ("list", "watch", "get", "patch")      # counted one by one; everything else as "other"
# The buckets, in the order the API server tries them: requests on pods first, whatever their verb.
BUCKETS = ("pods",) + VERBS + ("other",)
# Goes first among FlowSchemas (the built-in ones start at 1 for exempt, then 500 and up).
PRECEDENCE = 100


def _apply(manifest):
    proc = subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "apply", "-f", "-"], input=json.dumps(manifest),
                          text=True, capture_output=True)
    if proc.returncode:
        sys.exit("bench: kubectl apply failed: %s" % proc.stderr)


class Identity:
    """A ServiceAccount (cluster-admin) with a kubeconfig that goes through a counting relay."""

    def __init__(self, name, namespace, workdir):
        self.name, self.namespace = name, namespace
        self.flow_schemas = ["kubedev-bench-%s-%s" % (name, bucket) for bucket in BUCKETS]
        self.relay = Relay(_api_server_address())
        self.kubeconfig = str(pathlib.Path(workdir) / ("kubeconfig-" + name))

    def create(self, core, rbac):
        core.create_namespaced_service_account(self.namespace, {"metadata": {"name": self.name}})
        rbac.create_cluster_role_binding({
            "metadata": {"name": "kubedev-bench-" + self.name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": self.name, "namespace": self.namespace}]})
        token = core.create_namespaced_service_account_token(self.name, self.namespace, {
            "spec": {"expirationSeconds": 7200}}).status.token
        subject = {"kind": "ServiceAccount", "serviceAccount": {"name": self.name, "namespace": self.namespace}}
        every = {"apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": True}
        for offset, (schema, verb) in enumerate(zip(self.flow_schemas, BUCKETS)):
            rule = {"subjects": [subject]}
            if verb == "other":
                rule.update(resourceRules=[dict(every, verbs=["*"])], nonResourceRules=[{"verbs": ["*"], "nonResourceURLs": ["*"]}])
            elif verb == "pods":
                rule.update(resourceRules=[dict(every, apiGroups=[""], resources=["pods"], verbs=["*"])])
            else:
                rule.update(resourceRules=[dict(every, verbs=[verb])])
            _apply({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": schema},
                    "spec": {"priorityLevelConfiguration": {"name": PRIORITY_LEVEL},
                             "matchingPrecedence": PRECEDENCE + offset + (0 if self.name == "module" else 10),
                             "distinguisherMethod": {"type": "ByUser"}, "rules": [rule]}})
        config = yaml.safe_load(open(KUBECONFIG))
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
        cluster = dict(next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"])
        cluster["server"] = "https://127.0.0.1:%d" % self.relay.port
        pathlib.Path(self.kubeconfig).write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": self.name,
            "clusters": [{"name": "bench", "cluster": cluster}],
            "contexts": [{"name": self.name, "context": {"cluster": "bench", "user": self.name}}],
            "users": [{"name": self.name, "user": {"token": token}}]}))
        self.relay.start()

    def delete(self, rbac):
        self.relay.stop()
        kubectl("delete", "flowschema", *self.flow_schemas, "--ignore-not-found", check=False)
        kubectl("delete", "clusterrolebinding", "kubedev-bench-" + self.name, "--ignore-not-found", check=False)


def create_priority_level():
    """Room for the measured tools' requests that no other traffic competes for."""
    _apply({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": PRIORITY_LEVEL},
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 50,
                                                    "limitResponse": {"type": "Queue", "queuing": {
                                                        "queues": 8, "handSize": 4, "queueLengthLimit": 100}}}}})


def delete_priority_level():
    kubectl("delete", "prioritylevelconfiguration", PRIORITY_LEVEL, "--ignore-not-found", check=False)


_DISPATCHED = re.compile(r'^apiserver_flowcontrol_dispatched_requests_total\{([^}]*)\} (\S+)$', re.M)


def dispatched():
    """flow schema -> requests the API server dispatched for it so far."""
    text = kubectl("get", "--raw", "/metrics").stdout
    counts = {}
    for labels, value in _DISPATCHED.findall(text):
        schema = re.search(r'flow_schema="([^"]*)"', labels)
        if schema:
            counts[schema.group(1)] = counts.get(schema.group(1), 0) + int(float(value))
    return counts


def requests_between(before, after, identity):
    """{bucket: requests} of identity between two dispatched() readings ('pods': on pods, any verb; then the
    other requests by verb), and 'total'."""
    counts = {}
    for schema, verb in zip(identity.flow_schemas, BUCKETS):
        counts[verb] = after.get(schema, 0) - before.get(schema, 0)
    counts["total"] = sum(counts.values())
    return counts


def _api_server_address():
    config = yaml.safe_load(open(KUBECONFIG))
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    server = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]["server"]
    host, port = re.match(r"https://([^:/]+):(\d+)", server).groups()
    return host, int(port)


class Relay(threading.Thread):
    """127.0.0.1:<port> -> the API server, byte for byte; counts the bytes flowing back to the client."""

    def __init__(self, upstream):
        super().__init__(daemon=True)
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.received = 0
        self._lock = threading.Lock()

    def run(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source, sink, counted):
        buffer = bytearray(256 * 1024)
        try:
            while True:
                size = source.recv_into(buffer)
                if not size:
                    break
                sink.sendall(memoryview(buffer)[:size])
                if counted:
                    with self._lock:
                        self.received += size
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.listener.close()


MEASURING_INTERPRETER = '''#!{python}
"""Runs the Python interpreter as Ansible asked and appends its rusage to $KUBEDEV_RUSAGE_LOG."""
import json, os, sys, time
pid = os.fork()
if pid == 0:
    os.execv({python!r}, [{python!r}] + sys.argv[1:])
started = time.time()
_, status, usage = os.wait4(pid, 0)
with open(os.environ["KUBEDEV_RUSAGE_LOG"], "a") as log:
    log.write(json.dumps({{"user": usage.ru_utime, "sys": usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
                          "started": started, "ended": time.time()}}) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
'''


def measuring_interpreter(workdir):
    """An executable that Ansible can use as ansible_python_interpreter; it records each run's rusage."""
    path = pathlib.Path(workdir) / "measured-python"
    path.write_text(MEASURING_INTERPRETER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run_measured(cmd, env=None):
    """Run a command; returns (returncode, rusage dict, end time as epoch seconds, stdout+stderr)."""
    proc = subprocess.Popen([str(part) for part in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    ended = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    return proc.returncode, {"user": usage.ru_utime, "sys": usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, ended, \
        (output[0] if output else b"").decode(errors="replace")


def load_average():
    return os.getloadavg()[0]


def wait_for_quiet(threshold=1.0, timeout=180):
    """Wait until the 1-minute load average drops below threshold (2 cores: the cluster settles)."""
    deadline = time.monotonic() + timeout
    while load_average() > threshold and time.monotonic() < deadline:
        time.sleep(5)
    return load_average()
