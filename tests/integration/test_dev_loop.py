"""scripts/dev on the real node: site.yml deploys the sample app (pushed to the test registry) and remembers its
settings; scripts/dev, started with nothing but them, then picks up each save while a loop of GETs runs:
- an edit is built, rolled out and served, with one verdict line;
- a broken edit that crash-loops fails with the pod's reason and is rolled back, the last good release serving;
- a build that fails says so and leaves the cluster as it was;
- two saves in quick succession end on the second;
- Ctrl-C during a release lets it finish: the Deployment's rollout is complete when the process has gone;
and not one GET fails throughout."""

import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from conftest import copy_sample_app, existing_cluster_vars, run_playbook
from test_realnode import ON_REAL_NODE, http_get, node_port_url, page_version, bump_version, node_ip, real_node  # noqa: F401
from test_set_image_support import kubectl

pytestmark = [pytest.mark.integration, pytest.mark.realnode]

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Dev(object):
    """scripts/dev as a child process; its lines arrive on a queue."""

    def __init__(self, settings):
        self.proc = subprocess.Popen([str(ROOT / "scripts" / "dev"), "--settings", str(settings)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def verdict(self, timeout=240):
        """The next verdict line (progress lines are kept in seen)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if not line.endswith("...") and not line.startswith(("watching", "building", "rolling out")):
                return line
        raise AssertionError("no verdict within %s s; the loop said:\n%s" % (timeout, "\n".join(self.seen)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=120)


class Gets(object):
    """GETs on the page in a loop: how many failed, and the versions it served."""

    def __init__(self, url):
        self.url, self.failed, self.total, self.versions = url, [], 0, []
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.done.is_set():
            status, body = http_get(self.url)
            self.total += 1
            if status != 200:
                self.failed.append((status, body[:200]))
            else:
                self.versions.append(page_version(body))
            time.sleep(0.05)

    def stable(self, version, timeout=30, in_a_row=20):
        """20 GETs in a row serve version (the old pods leave the Service's endpoints a moment after the rollout
        is complete, as kube-proxy catches up)."""
        deadline, row = time.monotonic() + timeout, 0
        while time.monotonic() < deadline and row < in_a_row:
            status, body = http_get(self.url)
            row = row + 1 if status == 200 and page_version(body) == version else 0
        return row >= in_a_row

    def serving(self, version, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = http_get(self.url)
            if status == 200 and page_version(body) == version:
                return True
            time.sleep(0.2)
        return False


def break_server(app_dir):
    """A syntax error: the container starts, node fails to parse server.js and exits: a crash loop."""
    server = app_dir / "server.js"
    server.write_text(server.read_text() + "\nthis is not javascript(\n")


def test_dev_loop_on_the_real_node(tmp_path, repo_root, kubeconfig, registry, base_image, core_v1, namespace, node_ip):
    app_dir = copy_sample_app(tmp_path / "app")
    remembered = tmp_path / "group_vars" / "kubedev_site.yml"
    play_vars = existing_cluster_vars(kubeconfig, namespace, registry, base_image, kubedev_app_dir=str(app_dir),
                                      kubedev_remember_file=str(remembered), **ON_REAL_NODE)
    output = run_playbook(repo_root / "playbooks" / "site.yml", extra_vars=play_vars).stdout
    assert "scripts/dev" in output
    settings = yaml.safe_load(remembered.read_text())
    assert settings["kubedev_app_dir"] == str(app_dir) and settings["kubedev_namespace"] == namespace
    assert settings["kubedev_registry"] == registry and settings["kubedev_site_kubeconfig"] == kubeconfig
    assert oct(remembered.stat().st_mode & 0o777) == "0o600"

    url = node_port_url(core_v1, namespace, node_ip)
    gets = Gets(url)
    dev = Dev(remembered)
    try:
        # Started on what site.yml deployed: nothing to do.
        assert dev.verdict().startswith("unchanged in "), dev.seen

        bump_version(app_dir, "0.0.2")
        line = dev.verdict()
        assert line.startswith("complete in ") and "revision" in line and "hello-k8s:0.0.2-" in line, dev.seen
        assert gets.serving("0.0.2")

        break_server(app_dir)
        line = dev.verdict()
        assert line.startswith("failed in ") and "Rolled back to %s/hello-k8s:0.0.2-" % registry in line, dev.seen
        assert "CrashLoopBackOff" in line or "Error" in line, line
        assert gets.serving("0.0.2")

        (app_dir / "server.js").write_text((repo_root / "sample_app" / "server.js").read_text())
        dockerfile = app_dir / "Dockerfile"
        good_dockerfile = dockerfile.read_text()
        dockerfile.write_text(good_dockerfile.replace("EXPOSE 3000", "RUN exit 7\nEXPOSE 3000"))
        line = dev.verdict()
        assert line.startswith("build failed in ") and "RUN exit 7" in line and "the cluster was not touched" in line, \
            dev.seen
        dockerfile.write_text(good_dockerfile)

        # Two saves in quick succession: the loop ends on the second.
        bump_version(app_dir, "0.0.3")
        time.sleep(0.3)
        bump_version(app_dir, "0.0.4")
        verdicts = [dev.verdict()]
        while "hello-k8s:0.0.4-" not in verdicts[-1]:
            verdicts.append(dev.verdict())
        assert verdicts[-1].startswith("complete in "), dev.seen
        assert not any(line.startswith("complete") and "0.0.3-" in line for line in verdicts), verdicts
        assert gets.stable("0.0.4"), gets.versions[-40:]

        # Ctrl-C during a release: it finishes, and the process goes.
        bump_version(app_dir, "0.0.5")
        while not any(line.startswith("rolling out") and "0.0.5" in line for line in dev.seen):
            try:
                dev.seen.append(dev.lines.get(timeout=120))
            except queue.Empty:
                raise AssertionError("no rollout of 0.0.5 began:\n" + "\n".join(dev.seen))
        dev.stop()
        assert dev.proc.returncode == 0
        rest = []
        while not dev.lines.empty():
            rest.append(dev.lines.get())
        assert any(line.startswith("stopped; the cluster runs") for line in rest), dev.seen + rest
        kubectl(kubeconfig, "-n", namespace, "rollout", "status", "deployment/web-deployment", "--timeout", "5s")
    finally:
        dev.stop()
        gets.done.set()
    assert gets.failed == [], gets.failed[:5]
    assert gets.total > 50
