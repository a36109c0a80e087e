"""Issue 26, finding 9: as root, the scripts use a cache of built binaries only when root alone can change
it. Under `sudo -E`, KUBEDEV_CACHE, XDG_CACHE_HOME and HOME are the user's; a binary the user planted in
such a cache would be installed as dockerd's runtime (the runc shim), or served to the tools role as
kubectl/minikube, and run as root.

Each test plants a binary where a script looks for its cached build, in a cache a user (`nobody`) owns or
may write, and runs the real script as root: it must refuse, name the variable the cache came from, and
neither print the planted binary's path (what the callers install or serve) nor run it. The control: the
same binary in a root-owned cache is taken. Nothing here builds anything (the planted binaries are found
first), so the tests take seconds."""

import os
import pathlib
import pwd
import subprocess

import pytest

from conftest import ROOT

# KUBEDEV_TEST_SCRIPTS: another copy of scripts/ to test (e.g. `git archive HEAD scripts`, to see these fail)
SCRIPTS = pathlib.Path(os.environ.get("KUBEDEV_TEST_SCRIPTS", ROOT / "scripts"))
MINIKUBE_VERSION = "v1.38.1"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the rules are for root")


def nobody():
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def shim_hash():
    """The cache key scripts/sandbox-docker gives this checkout's runc shim."""
    return subprocess.run(["bash", "-c", "cat go.mod *.go | sha256sum | cut -c1-16"], cwd=ROOT / "scripts" / "runc-shim",
                          capture_output=True, text=True, check=True).stdout.strip()


def plant(cache, relpath, marker):
    """An executable at cache/relpath that, if anyone runs it, leaves marker behind."""
    exe = cache / relpath
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!/bin/sh\ntouch {marker}\n")
    exe.chmod(0o755)
    return exe


# what each script is run with, and where it looks for its cached build
CALLERS = {
    "sandbox-docker": (["sandbox-docker", "build"], lambda: f"runc-shim-{shim_hash()}/runc-shim"),
    "artifact-mirror-build-minikube": (["artifact-mirror-build-minikube", MINIKUBE_VERSION],
                                       lambda: f"minikube-{MINIKUBE_VERSION}/minikube"),
}


def run(argv, env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("KUBEDEV_CACHE", "XDG_CACHE_HOME")}
    env.update(env_changes)
    return subprocess.run([str(SCRIPTS / argv[0]), *argv[1:]], env=env, capture_output=True, text=True, timeout=120)


def user_cache(tmp_path, how):
    """A cache a user controls, and the environment that points root at it (as sudo -E would)."""
    home = tmp_path / "home-of-a-user"
    if how == "group-writable":   # root owns it, but the group may write: as good as the user's
        cache = home / "kubedev"
        cache.mkdir(parents=True)
        cache.chmod(0o775)
        return cache, {"KUBEDEV_CACHE": str(cache)}, "KUBEDEV_CACHE"
    uid, gid = nobody()
    home.mkdir()
    os.chown(home, uid, gid)
    if how == "KUBEDEV_CACHE":
        cache, env = home / "kubedev", {"KUBEDEV_CACHE": str(home / "kubedev")}
    elif how == "XDG_CACHE_HOME":
        cache, env = home / "kubedev", {"XDG_CACHE_HOME": str(home)}
    else:
        cache, env = home / ".cache" / "kubedev", {"HOME": str(home)}
    return cache, env, how


@pytest.mark.parametrize("how", ["KUBEDEV_CACHE", "XDG_CACHE_HOME", "HOME", "group-writable"])
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_root_refuses_a_cache_a_user_controls(tmp_path, caller, how):
    argv, relpath = CALLERS[caller]
    cache, env, var = user_cache(tmp_path, how)
    marker = tmp_path / "planted-binary-ran"
    planted = plant(cache, relpath(), marker)
    proc = run(argv, env)
    assert proc.returncode != 0, f"{caller} took {planted}: {proc.stdout}{proc.stderr}"
    assert str(planted) not in proc.stdout, proc.stdout
    assert not marker.exists(), "root ran the planted binary"
    message = " ".join(proc.stderr.split())
    assert f"refusing {cache} (from {var}=" in message, message
    assert "writable by root only" in message and "KUBEDEV_CACHE" in message, message


def test_root_refuses_a_cached_binary_root_does_not_own(tmp_path):
    """A root-only cache holding a binary some user owns (copied in with its owner kept, say): not run."""
    cache = tmp_path / "cache"
    planted = plant(cache, CALLERS["artifact-mirror-build-minikube"][1](), tmp_path / "ran")
    os.chown(planted, *nobody())
    proc = run(CALLERS["artifact-mirror-build-minikube"][0], {"KUBEDEV_CACHE": str(cache)})
    assert proc.returncode != 0, proc.stdout
    assert str(planted) not in proc.stdout
    assert f"refusing to run {planted} as root: owned by uid {nobody()[0]}" in " ".join(proc.stderr.split())


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_root_takes_a_root_only_cache(tmp_path, caller):
    """The control: the same binary in a cache only root can change is what the script hands on."""
    argv, relpath = CALLERS[caller]
    cache = tmp_path / "cache"
    planted = plant(cache, relpath(), tmp_path / "ran")
    proc = run(argv, {"KUBEDEV_CACHE": str(cache)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(planted)


def test_testenv_refuses_a_cache_a_user_controls(tmp_path):
    """scripts/testenv and scripts/minikube-mirror get their cache from testenv.d/common.sh."""
    cache, env, var = user_cache(tmp_path, "HOME")
    env["KUBEDEV_TESTENV_STATE"] = str(tmp_path / "state")
    proc = run(["minikube-mirror", "dir"], env)
    assert proc.returncode != 0
    assert f"refusing {cache} (from HOME=" in " ".join(proc.stderr.split()), proc.stderr
    assert not cache.exists(), "root created directories in the user's cache"


@pytest.mark.parametrize("script", ["build-molecule-image", "sanity"])
def test_root_refuses_a_user_cache_for_the_image_it_imports_and_the_code_it_tests(tmp_path, script):
    """build-molecule-image imports the rootfs tarball it caches as a Docker image; sanity runs ansible-test on the
    collection it unpacks into the cache. From a cache a user controls, root does neither."""
    cache, env, var = user_cache(tmp_path, "KUBEDEV_CACHE")
    planted = cache / "molecule-debian12-planted.tar.gz"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"not a rootfs")
    proc = run([script], env)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "refusing %s (from %s=" % (cache, var) in " ".join(proc.stderr.split()), proc.stderr
    assert not (cache / "sanity").exists()
