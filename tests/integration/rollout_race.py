"""The module against `kubectl rollout status` on the same rollout (this file holds no tests).

set_image runs in the background (a real ansible-playbook); as soon as its patch shows on the object,
`kubectl rollout status` starts on it. Both verdicts come back as one of complete / failed / waiting
(still waiting at the timeout) / refused. Whether kubectl was still waiting when the module had
already returned is recorded too: for the fail-fast cases that is the module deciding first.

Times to verdict are recorded, never asserted: with KUBEDEV_DIFFERENTIAL_LOG=path each scenario
appends a JSON line there (scenario, both verdicts, the module's reason and seconds).
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

from test_set_image_support import (
    RESOURCE,
    json_env,
    kubectl_path,
    parse_task_result,
    read,
    task_playbook,
)

COMPLETE, FAILED, WAITING, REFUSED = "complete", "failed", "waiting", "refused"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"


def kubectl_verdict(returncode, output):
    """What `kubectl rollout status` said, as one word."""
    if returncode == 0 and ("successfully rolled out" in output or "roll out complete" in output):
        return COMPLETE
    if "exceeded its progress deadline" in output:
        return FAILED
    if "timed out waiting for the condition" in output:
        return WAITING
    if "only available for RollingUpdate strategy type" in output:
        return REFUSED
    raise AssertionError("unexpected kubectl rollout status answer (rc %s): %s" % (returncode, output))


def module_verdict(result):
    """What the module said, in kubectl's words."""
    targets = result.get("targets") or []
    if not targets:
        assert result.get("failed") and result["msg"].startswith("nothing was changed: "), result
        return REFUSED
    status = targets[0]["status"]
    return {"complete": COMPLETE, "failed": FAILED, "timed_out": WAITING}[status]


class Race(object):
    """One scenario's outcome: verdicts, the module's result, and who decided first."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.result = None
        self.module = None
        self.kubectl = None
        self.kubectl_output = ""
        self.kubectl_seconds = None
        self.kubectl_waiting_when_module_returned = None

    @property
    def target(self):
        return (self.result.get("targets") or [{}])[0]

    def record(self):
        entry = {"scenario": self.scenario, "kubectl": self.kubectl, "module": self.module,
                 "reason": self.target.get("reason"), "module_seconds": self.target.get("duration"),
                 "kubectl_seconds": self.kubectl_seconds,
                 "kubectl_waiting_when_module_returned": self.kubectl_waiting_when_module_returned}
        print("differential:", json.dumps(entry))
        path = os.environ.get("KUBEDEV_DIFFERENTIAL_LOG")
        if path:
            with open(path, "a") as handle:
                handle.write(json.dumps(entry) + "\n")
        return self


def _generation(apps_v1, namespace, kind, name):
    return read(apps_v1, namespace, kind, name)["metadata"]["generation"]


def _wait_for_patch_or_exit(apps_v1, namespace, kind, name, generation, proc, timeout=300):
    """True once the object's generation moved (the module patched it); False if the module ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _generation(apps_v1, namespace, kind, name) > generation:
            return True
        if proc.poll() is not None:
            return _generation(apps_v1, namespace, kind, name) > generation
        time.sleep(0.05)
    raise AssertionError("the module neither patched %s/%s nor ended within %ss" % (kind, name, timeout))


def start_set_image(tmp_path, kubeconfig, args, name="set-image.yml"):
    """set_image with args as a background ansible-playbook (JSON result on its stdout)."""
    playbook = task_playbook(tmp_path, "kubedev.devloop.set_image", args, name=name)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **json_env(kubeconfig))
    return subprocess.Popen([str(ANSIBLE_PLAYBOOK), str(playbook)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def race(scenario, tmp_path, kubeconfig, apps_v1, namespace, kind, name, containers, kubectl_timeout,
         module_args=None, after_patch=None):
    """set_image(containers) on kind/name with kubectl rollout status started right after its patch.

    after_patch(): runs in a thread once the patch is seen (a ConfigMap appearing, a node joining).
    kubectl_timeout: seconds for --timeout; it must outlast what a complete rollout needs.
    """
    args = {"kind": kind, "name": name, "namespace": namespace, "containers": containers}
    args.update(module_args or {})
    generation = _generation(apps_v1, namespace, kind, name)
    race_result = Race(scenario)
    module = start_set_image(tmp_path, kubeconfig, args, name="race-%s.yml" % scenario)
    kubectl = None
    helper = None
    try:
        patched = _wait_for_patch_or_exit(apps_v1, namespace, kind, name, generation, module)
        if patched:
            kubectl_started = time.monotonic()
            kubectl = subprocess.Popen(
                [kubectl_path(), "--kubeconfig", kubeconfig, "-n", namespace, "rollout", "status",
                 "%s/%s" % (RESOURCE[kind], name), "--timeout", "%ds" % kubectl_timeout],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if after_patch:
                helper = threading.Thread(target=after_patch, daemon=True)
                helper.start()
        stdout, stderr = module.communicate(timeout=900)
        if kubectl is not None:
            race_result.kubectl_waiting_when_module_returned = kubectl.poll() is None
            output, _ = kubectl.communicate(timeout=kubectl_timeout + 120)
            race_result.kubectl_seconds = round(time.monotonic() - kubectl_started, 2)
        else:   # the module refused before writing: ask kubectl about the same object now
            proc = subprocess.run([kubectl_path(), "--kubeconfig", kubeconfig, "-n", namespace, "rollout", "status",
                                   "%s/%s" % (RESOURCE[kind], name), "--timeout", "%ds" % kubectl_timeout],
                                  capture_output=True, text=True, timeout=kubectl_timeout + 120)
            output = proc.stdout + proc.stderr
            kubectl = proc
        race_result.kubectl_output = output
        race_result.kubectl = kubectl_verdict(kubectl.returncode, output)
    finally:
        for proc in (module, kubectl):
            if isinstance(proc, subprocess.Popen) and proc.poll() is None:
                proc.kill()
        if helper is not None:
            helper.join(timeout=300)
    try:
        race_result.result = parse_task_result(stdout)
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no JSON task result (rc %s):\n%s\n%s" % (module.returncode, stdout, stderr))
    race_result.module = module_verdict(race_result.result)
    return race_result.record()
