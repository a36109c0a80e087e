"""Issue 26, finding 3: the artifact mirror cannot be replaced by another local process, and the tools role
checks what it downloads against checksums the build pinned, never against the server it checks.

Real `scripts/artifact-mirror` runs on 127.0.0.1 and a free port, with their own state and a cache holding
stand-ins for the built kubectl and minikube (small scripts that answer `version` as the pinned releases do:
building the real ones takes many minutes, and what is tested is the serving and the checking, not the
binaries), and real ansible-playbook runs of the tools role (nothing but kubectl and minikube, into tmp_path).
The other processes on the port are real listeners: what a local user could start."""

import contextlib
import hashlib
import http.server
import os
import pathlib
import socket
import stat
import subprocess
import textwrap
import threading
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import ROOT, free_port, run_playbook

# KUBEDEV_TEST_SCRIPTS: another copy of scripts/ to test (e.g. `git archive HEAD scripts`, to see these fail)
SCRIPTS = pathlib.Path(os.environ.get("KUBEDEV_TEST_SCRIPTS", ROOT / "scripts"))
MIRROR = SCRIPTS / "artifact-mirror"
DEFAULTS = yaml.safe_load((ROOT / "roles" / "tools" / "defaults" / "main.yml").read_text())
KUBECTL_V, MINIKUBE_V = DEFAULTS["tools_kubectl_version"], DEFAULTS["tools_minikube_version"]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
KUBECTL_PATH = f"release/{KUBECTL_V}/bin/linux/{ARCH}/kubectl"
MINIKUBE_PATH = f"minikube/releases/{MINIKUBE_V}/minikube-linux-{ARCH}"


@pytest.fixture()
def mirror(tmp_path):
    """(run, env, url, cache): run(*args) runs scripts/artifact-mirror against this test's state and cache."""
    cache = tmp_path / "cache"
    for rel, text in ((f"kubernetes-{KUBECTL_V}/kubectl", f"echo '{{\"clientVersion\": {{\"gitVersion\": \"{KUBECTL_V}\"}}}}'"),
                      (f"minikube-{MINIKUBE_V}/minikube", f"echo {MINIKUBE_V}")):
        exe = cache / rel
        exe.parent.mkdir(parents=True)
        exe.write_text(f"#!/bin/sh\n{text}\n")
        exe.chmod(0o755)
    port = free_port()
    env = dict(os.environ, KUBEDEV_CACHE=str(cache), KUBEDEV_TESTENV_STATE=str(tmp_path / "state"),
               KUBEDEV_ARTIFACT_MIRROR_ADDR="127.0.0.1", KUBEDEV_ARTIFACT_MIRROR_PORT=str(port))

    def run(*args, extra_env=None, timeout=120):
        return subprocess.run([str(MIRROR), *args], env=dict(env, **(extra_env or {})), capture_output=True, text=True,
                              timeout=timeout)

    yield run, env, f"http://127.0.0.1:{port}", cache
    run("stop")


@contextlib.contextmanager
def squatter(port, body=b"not the kubectl you built\n"):
    """Another user's HTTP server on 127.0.0.1:port answering every GET with body."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def can_bind(port):
    """Could another process start listening on 127.0.0.1:port now? (SO_REUSEADDR, as servers do)"""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            return True
        except OSError:
            return False


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def test_the_port_is_held_while_the_mirror_builds(mirror, tmp_path):
    """The minutes of a cold build were when another user could take the port the mirror was about to use."""
    run, env, url, cache = mirror
    (cache / f"kubernetes-{KUBECTL_V}" / "kubectl").unlink()   # so kubectl is built from the Go module proxy
    requested, release = threading.Event(), threading.Event()

    class SlowProxy(http.server.BaseHTTPRequestHandler):   # a module proxy that answers once the test has looked
        def do_GET(self):
            requested.set()
            release.wait(60)
            self.send_error(404)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    go_env = dict(env, GOPROXY=f"http://127.0.0.1:{proxy.server_port}", GOSUMDB="off", GOTOOLCHAIN="local",
                  GOMODCACHE=str(tmp_path / "gomodcache"), GOFLAGS="-mod=mod")
    start = subprocess.Popen([str(MIRROR), "start"], env=go_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert requested.wait(60), "the build never asked the module proxy"
        assert not can_bind(port_of(url)), "the mirror's port was free while it built: anyone could have served there"
    finally:
        release.set()
        out, err = start.communicate(timeout=120)
        proxy.shutdown()
    assert start.returncode != 0, out
    assert f"building kubectl {KUBECTL_V} failed" in err, err
    # the failed start let go of the port and left nothing that `url` would hand out
    assert can_bind(port_of(url)), "a failed start left the server running"
    assert run("url").returncode != 0


def test_start_refuses_a_port_another_process_listens_on(mirror):
    run, env, url, cache = mirror
    with squatter(port_of(url)):
        proc = run("start")
        assert proc.returncode != 0, f"start took another process's port: {proc.stdout}"
        assert f"127.0.0.1:{port_of(url)} is taken" in proc.stderr, proc.stderr
        assert get(url + "/" + KUBECTL_PATH)[1] == b"not the kubectl you built\n"   # left alone
    assert run("url").returncode != 0


def test_a_pid_file_naming_another_process_is_not_the_mirror(mirror, tmp_path):
    """State left behind, whose pid now names another process (a reused pid), while another server listens at
    the old URL: neither `url` nor `start` may hand that server out as the mirror."""
    run, env, url, cache = mirror
    state = tmp_path / "state" / "artifact-mirror"
    state.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "120"])
    try:
        (state / "pid").write_text(f"{other.pid}\n")
        (state / "url").write_text(url + "\n")
        with squatter(port_of(url)):
            assert run("url").returncode != 0, "url handed out a server that is not the mirror"
            proc = run("start")
            assert proc.returncode != 0, f"start handed out {proc.stdout.strip()}, which another process serves"
            assert "is taken" in proc.stderr, proc.stderr
    finally:
        other.kill()
        other.wait()


def test_vars_pin_the_built_binaries_and_nothing_publishes_a_checksum(mirror, tmp_path):
    run, env, url, cache = mirror
    proc = run("start")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == url
    vars_path = run("vars")
    assert vars_path.returncode == 0, vars_path.stderr
    pinned = yaml.safe_load(pathlib.Path(vars_path.stdout.strip()).read_text())
    sha = lambda path: "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert pinned == {
        "tools_kubectl_base_url": f"{url}/release",
        "tools_kubectl_checksum": sha(cache / f"kubernetes-{KUBECTL_V}" / "kubectl"),
        "tools_minikube_base_url": f"{url}/minikube/releases",
        "tools_minikube_checksum": sha(cache / f"minikube-{MINIKUBE_V}" / "minikube"),
    }
    assert get(f"{url}/{KUBECTL_PATH}") == (200, (cache / f"kubernetes-{KUBECTL_V}" / "kubectl").read_bytes())
    assert get(f"{url}/{KUBECTL_PATH}.sha256")[0] == 404
    assert get(f"{url}/{MINIKUBE_PATH}.sha256")[0] == 404
    state = tmp_path / "state" / "artifact-mirror"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    # start again: the same server, nothing rebuilt or restarted
    pid = (state / "pid").read_text()
    assert run("start").stdout.strip() == url and (state / "pid").read_text() == pid


def tools_playbook(tmp_path):
    playbook = tmp_path / "tools.yml"
    playbook.write_text(textwrap.dedent("""\
        - name: Install kubectl and minikube with the tools role
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Include the role
              ansible.builtin.include_role:
                name: kubedev.devloop.tools
        """))
    return playbook


def test_tools_role_checks_downloads_against_the_pinned_checksums(mirror, tmp_path):
    run, env, url, cache = mirror
    assert run("start").returncode == 0
    vars_file = run("vars").stdout.strip()
    bin_dir = tmp_path / "bin"
    extra = {"tools_install_docker": False, "tools_become": False, "tools_bin_dir": str(bin_dir)}
    www = tmp_path / "state" / "artifact-mirror" / "www"
    served = www / KUBECTL_PATH
    built = served.read_bytes()
    # what a server that is not ours would send: another binary, and a .sha256 file that matches it
    evil = b"#!/bin/sh\necho '{\"clientVersion\": {\"gitVersion\": \"" + KUBECTL_V.encode() + b"\"}}'\n# evil\n"
    served.write_bytes(evil)
    pathlib.Path(str(served) + ".sha256").write_text(hashlib.sha256(evil).hexdigest() + "\n")
    proc = run_playbook(tools_playbook(tmp_path), "-e", f"@{vars_file}", extra_vars=extra, check=False)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, f"the role installed a binary the build did not make:\n{output}"
    assert f"kubectl from {url}/{KUBECTL_PATH} does not match the expected sha256:{hashlib.sha256(built).hexdigest()}" \
        in output, output
    assert "nothing was installed" in output
    assert not (bin_dir / "kubectl").exists()
    # the binary the build made goes in
    served.write_bytes(built)
    proc = run_playbook(tools_playbook(tmp_path), "-e", f"@{vars_file}", extra_vars=extra, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (bin_dir / "kubectl").read_bytes() == built
    assert (bin_dir / "minikube").read_bytes() == (cache / f"minikube-{MINIKUBE_V}" / "minikube").read_bytes()


def run_validation(tmp_path, role_vars):
    """The tools role with only kubectl/minikube to install into tmp_path (validation comes first)."""
    extra = {"tools_install_docker": False, "tools_become": False, "tools_bin_dir": str(tmp_path / "bin"), **role_vars}
    proc = run_playbook(tools_playbook(tmp_path), extra_vars=extra, check=False)
    return proc, " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.parametrize("scheme", ["http", "ftp", "HTTP"])
def test_plain_base_urls_need_a_pinned_checksum(tmp_path, scheme):
    proc, output = run_validation(tmp_path, {"tools_kubectl_base_url": f"{scheme}://127.0.0.1:9/release",
                                             "tools_minikube_base_url": f"{scheme}://127.0.0.1:9/minikube/releases"})
    assert proc.returncode != 0, output
    assert (f"tools_kubectl_base_url={scheme}://127.0.0.1:9/release: a plain http/ftp download is checked against "
            "nothing the same server could not change, so it needs tools_kubectl_checksum pinned") in output, output
    assert (f"tools_minikube_base_url={scheme}://127.0.0.1:9/minikube/releases: a plain http/ftp download") in output
    assert "tools_minikube_checksum pinned" in output
    assert "Could not download" not in output, "validation let it through to the download"
    assert not (tmp_path / "bin").exists(), "something changed before validation failed"


def test_plain_base_url_names_the_public_variable(tmp_path):
    proc, output = run_validation(tmp_path, {
        "tools_kubectl_base_url": "http://127.0.0.1:9/release", "tools_install_minikube": False,
        "tools_var_names": {"tools_kubectl_base_url": "kubedev_kubectl_url", "tools_kubectl_checksum": "kubedev_sum"}})
    assert proc.returncode != 0
    assert "kubedev_kubectl_url=http://127.0.0.1:9/release: a plain http/ftp download" in output, output
    assert "needs kubedev_sum pinned" in output


@pytest.mark.parametrize("role_vars", [
    {"tools_kubectl_base_url": "http://127.0.0.1:9/release", "tools_kubectl_checksum": "sha256:" + "0" * 64},
    {"tools_kubectl_base_url": "https://127.0.0.1:9/release"},
], ids=["http-pinned", "https"])
def test_pinned_or_https_base_urls_pass_validation(tmp_path, role_vars):
    """The controls: the same run gets past validation to the download (which fails: nothing listens there)."""
    proc, output = run_validation(tmp_path, {**role_vars, "tools_install_minikube": False})
    assert proc.returncode != 0
    assert f"Could not download kubectl from {role_vars['tools_kubectl_base_url']}/{KUBECTL_V}/bin/linux" in output, output
    assert "a plain http/ftp download" not in output


def test_plain_base_url_of_a_tool_not_installed_is_not_refused(tmp_path):
    proc, output = run_validation(tmp_path, {"tools_install_kubectl": False, "tools_install_minikube": False,
                                             "tools_kubectl_base_url": "http://127.0.0.1:9/release"})
    assert proc.returncode == 0, output
