#!/usr/bin/env python3
"""Benchmark the dev loop: playbooks/release.yml against the same steps as a plain shell script
(docker build, docker push, kubectl set image, kubectl rollout status) on the test environment.

Each round edits server.js of a private copy of the sample app (so both sides really build, push
and roll out a new image), then times one side; the sides alternate so drift hits both alike.
Prints every run, the medians and release/shell; exits 1 when the ratio is over the target (1.3).

    .venv/bin/python scripts/bench_release.py [--rounds 3] [--target 1.3] [--node kwok|real]

Needs `scripts/testenv up` (`--node real`: `scripts/testenv up --node real`). Uses its own namespace,
deleted at the end. On kwok's simulated nodes a rollout takes ~3 s, so Ansible's fixed cost per task
weighs heavily; on the real node pods really start and pass their readiness probes.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import uuid

from benchlib import KUBECONFIG, KUBECTL, REGISTRY, ROOT, VENV_BIN, kubectl, run, timed, unique_name

BASE_IMAGE = "kubedev/node-base:bookworm"
REAL_NODE_KEY = "kubedev.io/real-node"  # label and taint of scripts/testenv's real node
ON_REAL_NODE = {
    "deploy_node_selector": {REAL_NODE_KEY: "true"},
    "deploy_tolerations": [{"key": REAL_NODE_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}

SHELL_LOOP = r"""
set -euo pipefail
docker build --quiet --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$APP" >/dev/null
docker push --quiet "$IMAGE" >/dev/null
kubectl --kubeconfig "$KUBECONFIG" -n "$NS" set image deployment/web-deployment web="$IMAGE" >/dev/null
kubectl --kubeconfig "$KUBECONFIG" -n "$NS" rollout status deployment/web-deployment --timeout=300s >/dev/null
"""


def playbook(name, play_vars):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    return run([VENV_BIN / "ansible-playbook", ROOT / "playbooks" / name, "-e", json.dumps(play_vars)], env=env)


def edit(app):
    server = app / "server.js"
    server.write_text(server.read_text() + f"// bench {uuid.uuid4().hex}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.3)
    parser.add_argument("--node", choices=["kwok", "real"], default="kwok", help="where the app's pods run")
    args = parser.parse_args()

    namespace = unique_name("bench-release-")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="kubedev-bench-"))
    app = workdir / "app"
    shutil.copytree(ROOT / "sample_app", app, ignore=shutil.ignore_patterns("node_modules"))
    play_vars = {
        "kubedev_cluster_provider": "existing",
        "kubedev_install_tools": False,
        "kubedev_kubeconfig": KUBECONFIG,
        "kubedev_namespace": namespace,
        "kubedev_registry": REGISTRY,
        "kubedev_base_image": BASE_IMAGE,
        "kubedev_app_dir": str(app),
        "deploy_url_node_selector": "type!=kwok",   # kwok's nodes run no containers
        **(ON_REAL_NODE if args.node == "real" else {}),
    }
    shell_env = dict(os.environ, APP=str(app), NS=namespace, KUBECONFIG=KUBECONFIG, BASE_IMAGE=BASE_IMAGE,
                     PATH=str(pathlib.Path(KUBECTL).parent) + os.pathsep + os.environ.get("PATH", ""))
    release_times, shell_times = [], []
    try:
        print(f"setup: site.yml into namespace {namespace}, pods on the {args.node} node (not timed)")
        playbook("site.yml", play_vars)
        for round_no in range(1, args.rounds + 1):
            edit(app)
            release_times.append(timed(lambda: playbook("release.yml", play_vars)))
            edit(app)
            image = f"{REGISTRY}/hello-k8s:shell-{uuid.uuid4().hex[:12]}"
            shell_times.append(timed(lambda: run(["bash", "-c", SHELL_LOOP], env=dict(shell_env, IMAGE=image))))
            print(f"round {round_no}: release.yml {release_times[-1]:.1f} s, shell {shell_times[-1]:.1f} s")
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    release, shell = statistics.median(release_times), statistics.median(shell_times)
    ratio = release / shell
    verdict = "within" if ratio <= args.target else "OVER"
    print(f"median: release.yml {release:.1f} s, shell {shell:.1f} s, ratio {ratio:.2f} ({verdict} target {args.target})")
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
