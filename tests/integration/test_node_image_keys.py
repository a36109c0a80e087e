"""Issue 26, finding 11: the minikube mirror's node image (kicbase.tar, world-readable: minikube runs as an
ordinary user and reads it) carries no private SSH host keys; each node makes its own when sshd first starts.

Reads the kicbase.tar that `scripts/minikube-mirror build` made (KUBEDEV_TEST_KICBASE names another one) and
boots two nodes of that image as minikube does (systemd as PID 1): sshd runs in each, with host keys of its own."""

import json
import os
import subprocess
import time
import tarfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.integration

DROP_IN = "etc/systemd/system/ssh.service.d/10-kubedev-host-keys.conf"


@pytest.fixture(scope="module")
def kicbase():
    """(path of kicbase.tar, its image tag, {member name: (layer tar, TarInfo)}, its recipe label)"""
    path = os.environ.get("KUBEDEV_TEST_KICBASE")
    if not path:
        proc = subprocess.run([str(ROOT / "scripts" / "minikube-mirror"), "dir"], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"no minikube mirror: run `scripts/minikube-mirror build` ({proc.stderr.strip()})")
        path = os.path.join(proc.stdout.strip(), "kicbase.tar")
    outer = tarfile.open(path)
    manifest = json.load(outer.extractfile("manifest.json"))[0]
    layers = [tarfile.open(fileobj=outer.extractfile(name)) for name in manifest["Layers"]]
    members = {m.name.lstrip("./"): (layer, m) for layer in layers for m in layer.getmembers()}
    labels = json.load(outer.extractfile(manifest["Config"]))["config"].get("Labels") or {}
    yield path, manifest["RepoTags"][0], members, labels.get("dev.kubedev.recipe")
    outer.close()


def test_node_image_holds_no_private_keys(kicbase):
    path, tag, members, recipe = kicbase
    host_keys = sorted(name for name in members if name.startswith("etc/ssh/ssh_host_"))
    assert host_keys == [], f"{path} (mode {oct(os.stat(path).st_mode & 0o777)}) holds SSH host keys: {host_keys}"
    # nor any other private key in the configuration (e.g. a snakeoil TLS key)
    private = [name for name, (layer, m) in members.items()
               if name.startswith("etc/") and m.isfile() and b"PRIVATE KEY-----" in layer.extractfile(m).read()]
    assert private == [], f"{path} holds private keys: {private}"


def boot_node(tag):
    """Start a container of the node image as minikube's docker driver does (privileged, systemd as PID 1)."""
    return subprocess.run(
        ["docker", "run", "-d", "--privileged", "--security-opt", "seccomp=unconfined", "--security-opt",
         "apparmor=unconfined", "--tmpfs", "/tmp", "--tmpfs", "/run", "-v", "/lib/modules:/lib/modules:ro",
         "--label", "kubedev-test=node-image-keys", tag],
        capture_output=True, text=True, check=True).stdout.strip()


def node_exec(container, script):
    return subprocess.run(["docker", "exec", container, "bash", "-c", script], capture_output=True, text=True)


def test_each_node_makes_its_own_host_keys_when_sshd_starts(kicbase):
    path, tag, members, recipe = kicbase
    assert DROP_IN in members, f"no {DROP_IN} in {path}: nothing would make the host keys"
    # the image as minikube-mirror loaded it (or load this archive)
    loaded = subprocess.run(["docker", "image", "inspect", "-f", '{{ index .Config.Labels "dev.kubedev.recipe" }}', tag],
                            capture_output=True, text=True)
    if loaded.returncode != 0:
        subprocess.run(["docker", "load", "-i", path], capture_output=True, check=True)
    elif loaded.stdout.strip() != recipe:
        pytest.fail(f"dockerd's {tag} is another build than {path}: run `scripts/minikube-mirror build`")
    nodes, keys = [], []
    try:
        for _ in range(2):   # two nodes
            nodes.append(boot_node(tag))
        for node in nodes:
            deadline = time.monotonic() + 60
            while node_exec(node, "systemctl is-active ssh").stdout.strip() != "active":
                assert time.monotonic() < deadline, node_exec(node, "systemctl status ssh --no-pager").stdout
                time.sleep(0.5)
            proc = node_exec(node, "cat /etc/ssh/ssh_host_ed25519_key.pub")
            assert proc.returncode == 0 and proc.stdout.startswith("ssh-ed25519 "), proc.stdout + proc.stderr
            keys.append(proc.stdout.split()[1])
    finally:
        for node in nodes:
            subprocess.run(["docker", "rm", "-f", node], capture_output=True)
    assert keys[0] != keys[1], "two nodes got the same host key"
