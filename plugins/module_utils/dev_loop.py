# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The continuous dev loop: watch the app directory and, on each save, build and roll out, one verdict line a save.

One warm process does what release.yml does per run: the Kubernetes connection and the Docker engine are resolved
once (and again only after they stop answering), the build is image_build's (image_build_runner.Builder) and the
rollout is set_image's (set_image_runner.set_images: dry run, conditional patch, the waiter's fail-fast verdict,
rollback to the previous image). What it pays per save is the build and the rollout, not Ansible's or minikube's
start-up.

Run it as `python -m ansible_collections.kubedev.devloop.plugins.module_utils.dev_loop --help` with the
collection on the Python path (scripts/dev does this from a checkout; the README shows it for an installed
collection).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import sys
import threading
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._docker.context import BuildContext, ContextError
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import AUTH_ARG_SPEC, resolve_connection
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiUnreachable, KubeError, error_text
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import KubeClient
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials
from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_runner import (
    OPTIONS,
    BuildError,
    Builder,
    resolved,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._docker.engine import EngineError
from ansible_collections.kubedev.devloop.plugins.module_utils.pod_failures import DEFAULT_CRASHLOOP_RESTARTS
from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_runner import set_images
from ansible_collections.kubedev.devloop.plugins.module_utils.waiter import DEFAULT_TRANSIENT_GRACE

# What editors write beside a file while saving it: never a reason to build.
EDITOR_FILES = (".*.swp", ".*.swx", ".*.swo", "*~", ".#*", "#*#", "4913", "*.tmp", ".goutputstream-*")
POLL = 0.1          # seconds between looks at the app directory
SETTLE = 0.15       # a save is over when nothing changed for this long (editors write in several steps)

# The settings the loop takes, with the kubedev_* variables site.yml remembers for them.
SETTINGS = {
    "app_dir": "kubedev_app_dir", "registry": "kubedev_registry", "base_image": "kubedev_base_image",
    "base_image_archive": "kubedev_base_image_archive", "namespace": "kubedev_namespace",
    "deployment": "kubedev_deployment_name", "container": "kubedev_container_name",
    "kubeconfig": "kubedev_kubeconfig", "context": "kubedev_context", "wait_timeout": "kubedev_wait_timeout",
    "version": "kubedev_app_version",
}
# What site.yml found out about the cluster it set up (minikube's kubeconfig, context and docker-env), remembered
# beside the variables: used where the variables do not say.
SITE_FACTS = {"kubeconfig": "kubedev_site_kubeconfig", "context": "kubedev_site_context",
              "docker_env": "kubedev_site_docker_env"}
DEFAULTS = {"namespace": "default", "deployment": "web-deployment", "container": "web", "wait_timeout": 300,
            "build_network": "", "registry": "", "base_image": "", "base_image_archive": "", "version": "",
            "kubeconfig": "", "context": "", "docker_env": {}}


def is_editor_file(rel):
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pattern) for pattern in EDITOR_FILES)


def signature(app_dir, dockerfile="Dockerfile"):
    """What a save changes in what a build would send: each entry's path, kind, size, link target and modification
    time (to the nanosecond), as the context's walk stat'ed them. Files .dockerignore leaves out and editors' swap
    files do not count."""
    return tuple((entry.rel, entry.kind, entry.size, entry.link, entry.mtime_ns)
                 for entry in BuildContext(app_dir, dockerfile).entries() if not is_editor_file(entry.rel))


class Loop(object):
    """One app, one Deployment; release() is one save's build and rollout."""

    def __init__(self, settings, out=None):
        self.settings = dict(DEFAULTS, **dict((k, v) for k, v in settings.items() if v not in (None, "")))
        self.out = out or sys.stdout
        self.client = None
        self.last_good = None

    def say(self, line):
        self.out.write(credentials.redact(line) + "\n")
        self.out.flush()

    def _client(self):
        """The cluster's client, resolved once; again after it stopped answering."""
        if self.client is None:
            params = dict((name, None) for name in AUTH_ARG_SPEC)
            params.update(kubeconfig=self.settings["kubeconfig"] or None, context=self.settings["context"] or None)
            self.client = KubeClient(resolve_connection(params))
        return self.client

    def _builder(self):
        s = self.settings
        options = resolved(dict(
            state="present", app_dir=s["app_dir"], dockerfile="Dockerfile", name="", version=s["version"],
            ref_tag="content", tag_git_commit=True, base_image=s["base_image"],
            base_image_archive=s["base_image_archive"] or None, build_args={}, build_labels={},
            build_network=s["build_network"], builder="engine", registry=s["registry"], push=None,
            registry_auth=None, registry_username="", registry_password="", docker_env=s["docker_env"]))
        return Builder(options, dict((option, SETTINGS.get(option, option)) for option in OPTIONS))

    def release(self, superseded=lambda: False):
        """Build what is saved and roll it out; returns the verdict line (also printed)."""
        started = time.monotonic()

        def took():
            return "%.1f s" % (time.monotonic() - started)

        builder = self._builder()
        try:
            self.say("building ...")
            plan = builder.plan()
            if not plan["up_to_date"]:
                plan, _actions = builder.apply(plan)
        except (BuildError, EngineError, ContextError) as error:
            return self._verdict("build failed in %s: %s (the cluster was not touched)" % (took(), error))
        ref = "%s:%s" % (plan["repository"], plan["content_tag"])
        if superseded():
            return self._verdict("superseded after %s: a newer save is being built (%s not rolled out)" % (took(), ref))
        s = self.settings
        self.say("rolling out %s ..." % ref)
        params = {"kind": "Deployment", "name": [s["deployment"]], "label_selectors": None, "namespace": s["namespace"],
                  "containers": {s["container"]: ref}, "wait": True, "wait_timeout": int(s["wait_timeout"]),
                  "crashloop_restarts": DEFAULT_CRASHLOOP_RESTARTS, "transient_failure_grace": DEFAULT_TRANSIENT_GRACE,
                  "rollback_on_failure": True, "change_cause": "dev %s" % plan["content_tag"]}
        try:
            result = set_images(self._client(), params, False, give_up=superseded)
        except ApiUnreachable as error:
            self.client = None
            return self._verdict("failed in %s: %s" % (took(), error))
        except KubeError as error:
            return self._verdict("failed in %s: %s" % (took(), error))
        target = (result.get("targets") or [{}])[0]
        short = ref.rsplit("/", 1)[-1]
        if result.get("superseded"):
            return self._verdict("superseded after %s: a newer save is rolling out next (%s was rolling out)"
                                 % (took(), short))
        if not result.get("failed"):
            self.last_good = ref
            if not result.get("changed"):
                return self._verdict("unchanged in %s: %s already runs %s" % (took(), s["deployment"], short))
            return self._verdict("complete in %s: revision %s, %s" % (took(), target.get("revision"), short))
        back = (" Rolled back to %s." % target.get("previous_images", {}).get(s["container"])
                if result.get("rolled_back") else "")
        return self._verdict("failed in %s: %s.%s" % (took(), result.get("msg"), back))

    def _verdict(self, line):
        self.say(line)
        return line


class Watcher(object):
    """Runs loop.release() on each settled save; a save while one runs makes one more run with the newest files
    (no queue of stale builds), and the build it overtook is not rolled out."""

    def __init__(self, loop, app_dir):
        self.loop = loop
        self.app_dir = app_dir
        self.pending = threading.Event()
        self.stopping = threading.Event()
        self.busy = threading.Event()
        self.worker = threading.Thread(target=self._work, daemon=True)

    def _work(self):
        while not self.stopping.is_set():
            if not self.pending.wait(0.2):
                continue
            self.pending.clear()
            self.busy.set()
            try:
                self.loop.release(superseded=self.pending.is_set)
            except Exception as error:  # one save's surprise must not end the loop; say it and keep watching
                self.loop.say("failed: %s" % error_text(error))
            finally:
                self.busy.clear()

    def run(self, initial_release=True):
        self.worker.start()
        if initial_release:
            self.pending.set()
        seen = self._look()
        try:
            while True:
                time.sleep(POLL)
                now = self._look()
                if now == seen:
                    continue
                while True:     # settle: editors write a save in several steps
                    time.sleep(SETTLE)
                    later = self._look()
                    if later == now:
                        break
                    now = later
                seen = now
                self.pending.set()
        except KeyboardInterrupt:
            self.stop()

    def _look(self):
        try:
            return signature(self.app_dir)
        except (OSError, ContextError) as error:
            return ("unreadable", str(error))

    def stop(self):
        """Ctrl-C: no new release starts; one under way finishes (its rollout completes or is rolled back)."""
        self.pending.clear()
        if self.busy.is_set():
            self.loop.say("stopping: letting the release under way finish (Ctrl-C again leaves it as it is)")
            try:
                while self.busy.is_set():
                    time.sleep(0.1)
            except KeyboardInterrupt:
                self.loop.say("stopped with a release under way")
                self.stopping.set()
                return
        self.stopping.set()
        self.loop.say("stopped; the cluster runs %s" % (self.loop.last_good or "what it ran before"))


def read_settings(path):
    """The kubedev_* variables site.yml remembered (a YAML mapping), as the loop's settings."""
    import yaml

    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    settings = dict((setting, data[variable]) for setting, variable in SITE_FACTS.items() if data.get(variable))
    settings.update((setting, data[variable]) for setting, variable in SETTINGS.items() if data.get(variable))
    return settings


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="scripts/dev", description="Watch the app directory; on each save build its image and roll it out, "
        "with one verdict line a save. Ctrl-C stops it, leaving the last good release running.")
    parser.add_argument("--settings", help="a YAML file of kubedev_* variables (site.yml remembers the run's)")
    for setting in sorted(SETTINGS):
        parser.add_argument("--" + setting.replace("_", "-"), dest=setting, help="as %s" % SETTINGS[setting])
    parser.add_argument("--build-network", help="network mode of the build's RUN steps (default: the engine's bridge, "
                        "as the image role's image_build_network)")
    parser.add_argument("--docker-host", help="DOCKER_HOST of the engine to build with (else the settings' or the "
                        "environment's)")
    parser.add_argument("--once", action="store_true", help="build and roll out once, then exit (its status: 0 "
                        "when the rollout completed)")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings) if args.settings else {}
    settings.update((k, v) for k, v in vars(args).items()
                    if (k in SETTINGS or k == "build_network") and v not in (None, ""))
    if args.docker_host:    # over the environment's DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the Docker CLI's -H
        settings["docker_env"] = dict((key, value) for key, value in os.environ.items() if key.startswith("DOCKER_"))
        settings["docker_env"]["DOCKER_HOST"] = args.docker_host
    if not settings.get("app_dir"):
        parser.error("no app directory: pass --app-dir, or --settings with kubedev_app_dir")
    loop = Loop(settings)
    if args.once:
        line = loop.release()
        return 0 if line.startswith(("complete", "unchanged")) else 1
    loop.say("watching %s: save a file to build and roll it out to Deployment %s/%s (Ctrl-C stops)"
             % (settings["app_dir"], loop.settings["namespace"], loop.settings["deployment"]))
    Watcher(loop, settings["app_dir"]).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
