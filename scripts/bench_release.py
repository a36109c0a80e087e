#!/usr/bin/env python3
"""Benchmark the dev loop: playbooks/release.yml against the same steps as a plain shell script
(docker build, docker push, kubectl set image, kubectl rollout status) on the test environment.

Each round edits server.js of a private copy of the sample app (so both sides really build, push
and roll out a new image), then times one side; the sides alternate so drift hits both alike.
Each round also runs release.yml once more without an edit (nothing to build, push or roll out), and a floor
playbook with and without an edit: the two module runs no Ansible release can do without (docker_image
build+push, set_image), nothing checked, no extra tags - what release.yml takes beyond it is its checks and
tags. And the shell loop's own four commands as four ansible.builtin.command tasks: what running the loop in
Ansible costs at all (its start-up and a task each), before any module or promise. Prints
every run, the medians, release/shell and the unchanged release against their goals (ratio <= 1.3, unchanged
< 2 s); exits 1 when a goal is missed. --profile adds, for one changed and one unchanged release, where the
time went (ansible.posix.profile_tasks): the tasks over 0.1 s, and the count and sum of the others.

    .venv/bin/python scripts/bench_release.py [--rounds 3] [--target 1.3] [--unchanged-target 2] [--node kwok|real]
                                              [--profile]

Needs `scripts/testenv up` (`--node real`: `scripts/testenv up --node real`). Uses its own namespace,
deleted at the end. On kwok's simulated nodes a rollout takes ~3 s, so Ansible's fixed cost per task
weighs heavily; on the real node pods really start and pass their readiness probes.
"""

import argparse
import json
import os
import pathlib
import re
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


# The floor of any Ansible release: the two module runs it cannot do without (build and push; set the image and
# wait), nothing checked first, no tags. What release.yml takes beyond this is its checks and its tags.
FLOOR_PLAYBOOK = """
- name: Build, push and roll out, nothing else
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Build and push
      community.docker.docker_image:
        name: "{{ image }}"
        source: build
        push: true
        build: {path: "{{ app }}", args: {BASE_IMAGE: "{{ base }}"}, network: host, pull: false}
    - name: Set the image and wait
      kubedev.devloop.set_image:
        name: web-deployment
        namespace: "{{ namespace }}"
        containers: {web: "{{ image }}"}
        kubeconfig: "{{ kubeconfig }}"
"""


# The shell loop's commands, one task each: Ansible's own cost (start-up, a task per step) over the same work.
COMMANDS_PLAYBOOK = """
- name: The shell loop's four commands, one task each
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Docker build
      ansible.builtin.command: docker build --quiet --network host --build-arg BASE_IMAGE={{ base }} -t {{ image }} {{ app }}
      changed_when: true
    - name: Docker push
      ansible.builtin.command: docker push --quiet {{ image }}
      changed_when: true
    - name: Kubectl set image
      ansible.builtin.command: >-
        {{ kubectl }} --kubeconfig {{ kubeconfig }} -n {{ namespace }} set image deployment/web-deployment web={{ image }}
      changed_when: true
    - name: Kubectl rollout status
      ansible.builtin.command: >-
        {{ kubectl }} --kubeconfig {{ kubeconfig }} -n {{ namespace }} rollout status deployment/web-deployment --timeout=300s
      changed_when: false
"""


def playbook(name, play_vars, profile=False):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    if profile:
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
                   PROFILE_TASKS_SORT_ORDER="none")
    path = name if os.path.isabs(name) else ROOT / "playbooks" / name
    return run([VENV_BIN / "ansible-playbook", path, "-e", json.dumps(play_vars)], env=env)


def print_profile(title, output):
    """profile_tasks' recap: 'Task name ----- 0.52s' lines after TASKS RECAP."""
    recap = output.split("TASKS RECAP", 1)[-1]
    tasks = [(match.group(1).strip(), float(match.group(2)))
             for match in re.finditer(r"^(.+?) -{3,} ([0-9.]+)s$", recap, re.MULTILINE)]
    slow = [(name, seconds) for name, seconds in tasks if seconds > 0.1]
    small = [seconds for _, seconds in tasks if seconds <= 0.1]
    print(f"profile of {title}: {len(tasks)} tasks, {sum(seconds for _, seconds in tasks):.2f} s in tasks")
    for name, seconds in slow:
        print(f"  {seconds:5.2f} s  {name}")
    print(f"  {sum(small):5.2f} s  the other {len(small)} tasks (each <= 0.1 s)")


def edit(app):
    server = app / "server.js"
    server.write_text(server.read_text() + f"// bench {uuid.uuid4().hex}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.3)
    parser.add_argument("--unchanged-target", type=float, default=2.0, help="seconds for a release with no edit")
    parser.add_argument("--node", choices=["kwok", "real"], default="kwok", help="where the app's pods run")
    parser.add_argument("--profile", action="store_true", help="where the time of one release went, by task")
    args = parser.parse_args()

    namespace = unique_name("bench-release-")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="kubedev-bench-"))
    app = workdir / "app"
    shutil.copytree(ROOT / "sample_app", app, ignore=shutil.ignore_patterns("node_modules"))
    # Its own repository (the name in package.json): the tests' hello-k8s tags stay where the tests put them.
    package = json.loads((app / "package.json").read_text())
    package["name"] = repository = namespace
    (app / "package.json").write_text(json.dumps(package, indent=2) + "\n")
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
    floor_path = workdir / "floor.yml"
    floor_path.write_text(FLOOR_PLAYBOOK)
    floor_vars = {"app": str(app), "base": BASE_IMAGE, "namespace": namespace, "kubeconfig": KUBECONFIG}
    commands_path = workdir / "commands.yml"
    commands_path.write_text(COMMANDS_PLAYBOOK)
    commands_vars = dict(floor_vars, kubectl=KUBECTL)
    release_times, shell_times, unchanged_times, floor_times, floor_unchanged_times = [], [], [], [], []
    commands_times = []
    try:
        print(f"setup: site.yml into namespace {namespace}, pods on the {args.node} node (not timed)")
        playbook("site.yml", play_vars)
        for round_no in range(1, args.rounds + 1):
            edit(app)
            release_times.append(timed(lambda: playbook("release.yml", play_vars)))
            unchanged_times.append(timed(lambda: playbook("release.yml", play_vars)))   # no edit in between
            edit(app)
            image = f"{REGISTRY}/{repository}:shell-{uuid.uuid4().hex[:12]}"
            shell_times.append(timed(lambda: run(["bash", "-c", SHELL_LOOP], env=dict(shell_env, IMAGE=image))))
            edit(app)
            image = f"{REGISTRY}/{repository}:commands-{uuid.uuid4().hex[:12]}"
            commands_times.append(timed(lambda: playbook(str(commands_path), dict(commands_vars, image=image))))
            edit(app)
            image = f"{REGISTRY}/{repository}:floor-{uuid.uuid4().hex[:12]}"
            floor_times.append(timed(lambda: playbook(str(floor_path), dict(floor_vars, image=image))))
            floor_unchanged_times.append(timed(lambda: playbook(str(floor_path), dict(floor_vars, image=image))))
            print(f"round {round_no}: release.yml {release_times[-1]:.1f} s, shell {shell_times[-1]:.1f} s, "
                  f"release.yml unchanged {unchanged_times[-1]:.1f} s, floor playbook {floor_times[-1]:.1f} s, "
                  f"floor playbook unchanged {floor_unchanged_times[-1]:.1f} s, commands playbook {commands_times[-1]:.1f} s")
        if args.profile:
            edit(app)
            print_profile("a release with an edit", playbook("release.yml", play_vars, profile=True).stdout)
            print_profile("a release without an edit", playbook("release.yml", play_vars, profile=True).stdout)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    release, shell, unchanged, floor, floor_unchanged, commands = (
        statistics.median(times) for times in (release_times, shell_times, unchanged_times, floor_times,
                                               floor_unchanged_times, commands_times))
    ratio = release / shell
    ratio_ok, unchanged_ok = ratio <= args.target, unchanged < args.unchanged_target
    print(f"median: release.yml {release:.1f} s, shell {shell:.1f} s, ratio {ratio:.2f} "
          f"({'within' if ratio_ok else 'OVER'} target {args.target})")
    print(f"median: commands playbook (the shell loop's commands as Ansible tasks) {commands:.1f} s, "
          f"ratio {commands / shell:.2f}")
    print(f"median: floor playbook (build+push and set_image alone) {floor:.1f} s, ratio {floor / shell:.2f}")
    print(f"median: floor playbook without an edit (cached build, push, set_image confirming) {floor_unchanged:.1f} s")
    print(f"median: release.yml without an edit {unchanged:.1f} s "
          f"({'within' if unchanged_ok else 'OVER'} target {args.unchanged_target} s)")
    return 0 if ratio_ok and unchanged_ok else 1


if __name__ == "__main__":
    sys.exit(main())
