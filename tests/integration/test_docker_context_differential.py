"""The build context library (plugins/module_utils/_docker/context.py) against its oracle, the Docker CLI.

For each case a directory is built, `DOCKER_BUILDKIT=0 docker build` runs on it against a recording proxy on a unix
socket (every request goes on to the real engine at unix:///var/run/docker.sock, but POST /build, whose body, the
build context, the proxy reads as a tar stream and answers itself with an error: the build is not needed), and the
tar members the CLI sent (name, type, link target, size, mode, owner, mtime, content hash, in order) are compared
with those BuildContext.tar_stream() makes of the same directory. The cases: Docker's documented .dockerignore
examples, a UTF-8 BOM, symlinks to a directory and to a file, an empty directory, excluded Dockerfile and
.dockerignore, go-archive's walk quirks, and a 2 GB sparse file, whose tar and digest must also stay within bounded
memory.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading

import pytest

from collection_module_utils import import_module_utils

(context_lib,) = import_module_utils("_docker.context")
BuildContext = context_lib.BuildContext

pytestmark = pytest.mark.integration

ENGINE_SOCKET = "/var/run/docker.sock"
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BUILD_PATH = re.compile(r"^(/v[0-9.]+)?/build(\?|$)")
RECORDED = "build context recorded by the test proxy"


# The recording proxy


class _Body:
    """The body of an HTTP/1.1 request read from rfile (chunked or Content-Length), as a file for tarfile."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.left = None if self.chunked else int(headers.get("content-length", "0"))
        self.done = False

    def _next_chunk(self):
        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                pass
            self.done = True
        self.left = size

    def read(self, n=-1):
        out = bytearray()
        while not self.done and (n < 0 or len(out) < n):
            if self.chunked and not self.left:
                if self.left == 0:
                    self.rfile.readline()   # the CRLF after a chunk's data
                self._next_chunk()
                if self.done:
                    break
            if not self.chunked and not self.left:
                self.done = True
                break
            want = self.left if n < 0 else min(self.left, n - len(out))
            data = self.rfile.read(want)
            if not data:
                self.done = True
                break
            self.left -= len(data)
            out += data
        return bytes(out)


def members_of(fileobj):
    """(name, type, linkname, size, mode, uid, gid, uname, gname, mtime, sha256 of the content) of each member."""
    members = []
    with tarfile.open(fileobj=fileobj, mode="r|*", bufsize=1 << 20) as tar:
        for member in tar:
            content = hashlib.sha256()
            if member.isreg():
                handle = tar.extractfile(member)
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    content.update(chunk)
            members.append((member.name, member.type.decode(), member.linkname, member.size, oct(member.mode),
                            member.uid, member.gid, member.uname, member.gname, member.mtime,
                            content.hexdigest()[:16]))
    return members


class RecordingProxy:
    """A unix socket that forwards each request to the engine, one connection each (Connection: close), and keeps
    the tar members of the body of POST /build, which it answers itself."""

    def __init__(self, path):
        self.path = path
        self.builds = []
        self.requests = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.server.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            rfile = conn.makefile("rb", buffering=1 << 20)
            request_line = rfile.readline()
            if not request_line:
                return
            raw_headers, headers = [], {}
            while True:
                line = rfile.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                raw_headers.append(line)
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            method, target, _version = request_line.decode("latin-1").split(" ", 2)
            self.requests.append((method, target.split("?")[0]))
            body = _Body(rfile, headers)
            if method == "POST" and BUILD_PATH.match(target):
                try:
                    self.builds.append({"target": target, "headers": headers, "members": members_of(body)})
                except Exception as error:  # a context the test cannot read is a failure of the test, named
                    self.builds.append({"target": target, "headers": headers, "error": repr(error)})
                while body.read(1 << 20):
                    pass
                answer = json.dumps({"errorDetail": {"message": RECORDED}, "error": RECORDED}).encode() + b"\n"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
                return
            data = body.read()
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(ENGINE_SOCKET)
            try:
                kept = [h for h in raw_headers if h.split(b":")[0].strip().lower() not in (
                    b"connection", b"transfer-encoding", b"content-length")]
                upstream.sendall(request_line + b"".join(kept) + b"Connection: close\r\n" +
                                 (b"Content-Length: %d\r\n" % len(data) if data or method in ("POST", "PUT") else b"")
                                 + b"\r\n" + data)
                while True:
                    piece = upstream.recv(1 << 16)
                    if not piece:
                        break
                    conn.sendall(piece)
            finally:
                upstream.close()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def engine():
    """The running dockerd; a missing one fails the test, it is never skipped."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.fail("the Docker CLI (docker) is not on PATH: this test compares the build context with the CLI's")
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(10)
        probe.connect(ENGINE_SOCKET)
        probe.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        answer = probe.recv(4096)
        probe.close()
    except OSError as error:
        pytest.fail("dockerd is not answering at unix://%s (%s): start the test environment (scripts/testenv up)"
                    % (ENGINE_SOCKET, error))
    if not answer.startswith(b"HTTP/1.1 200"):
        pytest.fail("dockerd at unix://%s answered GET /_ping with %r" % (ENGINE_SOCKET, answer[:80]))
    return docker


@pytest.fixture
def proxy():
    directory = tempfile.mkdtemp(prefix="dctx", dir="/tmp")    # a unix socket path must stay short
    recorder = RecordingProxy(os.path.join(directory, "engine.sock"))
    yield recorder
    recorder.close()
    shutil.rmtree(directory, ignore_errors=True)


def cli_context(docker, proxy, app, dockerfile=None):
    """The members of the context `DOCKER_BUILDKIT=0 docker build` sends for app (run in app, -f dockerfile)."""
    before = len(proxy.builds)
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_HOST="unix://" + proxy.path)
    env.pop("DOCKER_CONTEXT", None)
    args = [docker, "build", "-q"] + (["-f", dockerfile] if dockerfile else []) + ["."]
    proc = subprocess.run(args, cwd=str(app), env=env, capture_output=True, text=True, timeout=600)
    assert len(proxy.builds) == before + 1, "the CLI sent no build (exit %d): %s %s; requests: %s" % (
        proc.returncode, proc.stdout, proc.stderr, proxy.requests)
    assert RECORDED in proc.stderr, proc.stderr   # the answer the proxy gave, not some other failure
    build = proxy.builds[-1]
    assert "error" not in build, build
    assert build["headers"].get("content-type") == "application/x-tar", build["headers"]
    return build["members"]


class _Chunks:
    """An iterator of bytes as a file to read."""

    def __init__(self, chunks):
        self.chunks, self.pending = iter(chunks), b""

    def read(self, n=-1):
        while n < 0 or len(self.pending) < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.pending += chunk
        if n < 0:
            n = len(self.pending)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


def library_context(app, dockerfile="Dockerfile"):
    return members_of(_Chunks(BuildContext(str(app), dockerfile).tar_stream()))


def names(members):
    return [m[0] for m in members]


# The directories


TREE = [
    "README.md", "CHANGES.md", "README-secret.md", "docs/guide.md", "docs/README.md", "server.js", "package.json",
    "main.go", "cmd/x/y.go", "somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt", "tempa",
    "tempb", "temp", "temporary.txt", "a/b/c/temp.txt", "foo/bar", "bar", "other/foo/bar", "logs/a.log",
    "logs/keep/b.log", "logs/keep.txt", "file1.txt", "filea.txt", "file10.txt", "f*.txt", "fx.txt", "dir/x", "#x",
    ".env", "node_modules/x/index.js", "qa/b", "qa/c", "5.txt", "d.txt", "build/Dockerfile", "\u00e9t\u00e9.txt",
    "f].txt", "f[].txt", "deep/" + "d" * 60 + "/" + "n" * 70 + ".txt",
]


def make_tree(app, dockerignore):
    """The shared tree: the files above (each holding its own path), a Dockerfile, an executable, a symlink to a
    directory and one to a file, a dangling symlink, an empty directory, two hard links, a FIFO and a socket."""
    app.mkdir(parents=True)
    (app / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    for rel in TREE:
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(rel + "\n")
    (app / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (app / "run.sh").chmod(0o755)
    (app / "private.key").write_text("k")
    (app / "private.key").chmod(0o600)
    (app / "linkdir").symlink_to("docs")
    (app / "linkfile").symlink_to("server.js")
    (app / "dangling").symlink_to("nowhere")
    (app / "emptydir").mkdir()
    (app / "hard1").write_text("same inode\n")
    os.link(str(app / "hard1"), str(app / "hard2"))
    os.mkfifo(str(app / "pipe"))
    if dockerignore is not None:
        (app / ".dockerignore").write_bytes(dockerignore.encode("utf-8") if isinstance(dockerignore, str)
                                            else dockerignore)
    return app


@pytest.fixture
def tree(tmp_path):
    """make_tree, with a listening unix socket in it for the time of the test."""
    sockets = []

    def make(dockerignore):
        app = make_tree(tmp_path / "app", dockerignore)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(app / "debug.sock"))
        sockets.append(listener)
        return app

    yield make
    for listener in sockets:
        listener.close()


# Docker's documentation of .dockerignore, its examples one by one, and what the CLI's code does beyond them.
CASES = {
    "no-dockerignore": None,
    "empty": "",
    "docs-example": "# comment\n*/temp*\n*/*/temp*\ntemp?\n",
    "double-star": "**/*.go\n",
    "exception": "*.md\n!README.md\n",
    "last-line-decides": "*.md\n!README*.md\nREADME-secret.md\n",
    "middle-line-no-effect": "*.md\nREADME-secret.md\n!README*.md\n",
    "star-then-exceptions": "*\n!server.js\n!package.json\n",
    "comments": "# a comment\n#x\n  #d.txt\n",
    "trailing-slash": "logs/\nnode_modules/\n",
    "leading-slash": "/foo/bar\n",
    "dot-segments": "foo/./baz/../bar\n.\n",
    "dot-dot": "../bar\nfoo/../../5.txt\n",
    "character-classes": "file[0-9].txt\ntemp[ab]\n",
    "negated-class": "file[^0-9].txt\n",
    "class-and-question-vs-separator": "dir?x\ndir[/]x\n",
    "escaped-star": "f\\*.txt\n",
    "regexp-escape": "\\d.txt\n",
    "bom": "\ufeff.env\n*.md\n",
    "bom-alone-then-exception": "\ufeff*.md\n!README.md\n",
    "directory-with-exception": "logs\n!logs/keep.txt\n",
    "exception-not-under-the-directory-prefix": "logs\n!*/keep.txt\n",
    "walk-inherits-parent-matches": "qa\n!qa/b\nqa\n",
    "prefix-and-suffix": "docs/**\n**/README.md\n",
    "symlinked-directory-target-excluded": "docs\n",
    "symlinks-excluded": "linkdir\nlinkfile\ndangling\n",
    "excluded-dockerfile-and-dockerignore": "Dockerfile\n.dockerignore\n*.md\n",
    "everything": "*\n",
    "everything-double-star": "**\n",
    "whitespace": "  server.js  \n\t! server.js\n",
    "crlf": "*.md\r\n!README.md\r\n",
    "unicode-and-long-names": "\u00e9t\u00e9.txt\ndeep/*/n*\n",
    "hard-link-first-name-excluded": "hard1\n",
    "empty-directory-excluded": "emptydir\n",
    # patternmatcher's translation as the CLI runs it: '*' inside a class becomes a class of its own
    "star-in-class": "f[*].txt\n",
    "posix-class": "[[:digit:]].txt\n",
    "prefix-without-slash": "doc**\n",
    "exception-for-a-double-star-directory": "node_modules/**\n!node_modules/x/index.js\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_library_sends_what_the_cli_sends(engine, proxy, tree, case):
    app = tree(CASES[case])
    sent = cli_context(engine, proxy, app)
    assert library_context(app) == sent
    # The digest covers the same entries the tar does.
    entries = BuildContext(str(app)).entries()
    assert [(e.rel, "5" if e.kind == "dir" else "2" if e.kind == "link" else "other") for e in entries] == [
        (m[0], m[1] if m[1] in "25" else "other") for m in sent]


def test_a_nested_dockerfile_is_sent_though_its_directory_is_excluded(engine, proxy, tree):
    app = tree("build\n*.md\n")
    sent = cli_context(engine, proxy, app, dockerfile="build/Dockerfile")
    assert "build/Dockerfile" in names(sent) and "build" not in names(sent)
    assert library_context(app, "build/Dockerfile") == sent


def test_the_oracle_sees_what_the_documentation_promises(engine, proxy, tree):
    """The CLI itself, on the documented cases, so that a proxy that recorded nothing useful cannot pass."""
    sent = names(cli_context(engine, proxy, tree("\ufeff.env\n*.md\n!README.md\nlogs\n!logs/keep.txt\n")))
    assert ".env" not in sent and "CHANGES.md" not in sent and "README.md" in sent
    assert "logs/keep.txt" in sent and "logs" not in sent and "logs/a.log" not in sent
    assert {"linkdir", "linkfile", "emptydir", "dangling", "pipe", "Dockerfile", ".dockerignore"} <= set(sent)
    assert "debug.sock" not in sent and "linkdir/guide.md" not in sent


BIG = 2 * 1024 ** 3

MEASURE = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.kubedev.devloop.plugins.module_utils._docker.context import BuildContext
    context = BuildContext(sys.argv[2])
    if sys.argv[3] == "tar":
        sent = sum(len(chunk) for chunk in context.tar_stream())
        answer = {"bytes": sent}
    else:
        answer = context.digest()
    answer["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(answer))
""")


def measured(app, what):
    collections = os.path.realpath(os.path.join(ROOT, "collections"))
    proc = subprocess.run([sys.executable, "-c", MEASURE, collections, str(app), what], capture_output=True,
                          text=True, timeout=900, check=True)
    return json.loads(proc.stdout)


def test_a_2_gb_sparse_file_is_sent_as_the_cli_sends_it_with_bounded_memory(engine, proxy, tmp_path):
    app = tmp_path / "big"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    with open(str(app / "disk.img"), "wb") as handle:
        handle.truncate(BIG)
        handle.seek(BIG // 2)
        handle.write(b"in the middle")
    (app / "small.txt").write_text("small\n")
    assert os.stat(str(app / "disk.img")).st_blocks * 512 < 1024 ** 2     # sparse: nothing like 2 GB on disk

    sent = cli_context(engine, proxy, app)
    assert [(m[0], m[3]) for m in sent if m[0] == "disk.img"] == [("disk.img", BIG)]
    assert library_context(app) == sent

    tar = measured(app, "tar")
    assert tar["bytes"] > BIG and tar["bytes"] % 512 == 0
    assert tar["peak_rss_mb"] < 200, tar
    digest = measured(app, "digest")
    assert digest["peak_rss_mb"] < 200, digest
    assert (digest["sha256"], digest["files"]) == (BuildContext(str(app)).digest()["sha256"], 3)


@pytest.mark.parametrize("line, words", [
    ("file[0-9.txt", "syntax error in pattern"),        # filepath.Match refuses the class
    ("!", 'illegal exclusion pattern: "!"'),
    ("x[z-a]", "syntax error in pattern"),              # Match takes it, Go's regexp refuses the range
    ("foo\\", "syntax error in pattern"),
    ("a[[:foo:]]", "syntax error in pattern"),          # Go's regexp: no such POSIX class
], ids=["unterminated-class", "lone-exclamation", "reversed-range", "trailing-backslash", "unknown-posix-class"])
def test_a_pattern_the_cli_refuses_is_refused(engine, proxy, tmp_path, line, words):
    app = make_tree(tmp_path / "app", "*.md\n" + line + "\n")
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_HOST="unix://" + proxy.path)
    proc = subprocess.run([engine, "build", "-q", "."], cwd=str(app), env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and ("checking context: " + words) in proc.stderr, proc.stderr
    assert proxy.builds == []
    with pytest.raises(context_lib.ContextError) as raised:
        BuildContext(str(app)).entries()
    assert words in str(raised.value) and str(app / ".dockerignore") + ":2" in str(raised.value)
