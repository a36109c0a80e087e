"""roles/image/files/docker_engine.py inputs: what a Docker build would send (.dockerignore, with the cases of Docker's own
documentation of the file), the digest the image is tagged with, and the git commit of the app directory."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[4] / "roles" / "image" / "files" / "docker_engine.py"
_spec = importlib.util.spec_from_file_location("docker_engine", SCRIPT)
engine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine)


def make_app(root, files, dockerignore=None):
    """An app directory with a Dockerfile and files (relative path -> content)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    if dockerignore is not None:
        (root / ".dockerignore").write_text(dockerignore)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def sent(root, dockerignore, files):
    """The paths of `files` a build would send with this .dockerignore (the rules, not a walk of the disk)."""
    make_app(root, {}, dockerignore)
    rules = engine.read_rules(str(root))
    return sorted(rel for rel in files if not engine.excluded(rel, rules))


# Docker's example: "# comment", "*/temp*", "*/*/temp*", "temp?".
DOCS_EXAMPLE = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"


@pytest.mark.parametrize("rel, kept", [
    ("somedir/temporary.txt", False),      # */temp*: names starting with temp in an immediate subdirectory
    ("somedir/temp", False),
    ("somedir/subdir/temporary.txt", False),   # */*/temp*: two levels below the root
    ("tempa", False),                      # temp?: a one-character extension of temp at the root
    ("tempb", False),
    ("temporary.txt", True),               # at the root no rule but temp? applies, and it wants one character
    ("temp", True),
    ("a/b/c/temp.txt", True),              # three levels down: neither */temp* nor */*/temp*
    ("# comment", True),                   # the comment line is no pattern
])
def test_the_documentation_example(tmp_path, rel, kept):
    assert sent(tmp_path, DOCS_EXAMPLE, [rel]) == ([rel] if kept else [])


def test_double_star_matches_any_number_of_directories(tmp_path):
    # "**/*.go excludes all files that end with .go found anywhere in the build context", the root included
    files = ["main.go", "cmd/x/y.go", "README.md", "docs/go.txt"]
    assert sent(tmp_path, "**/*.go\n", files) == ["README.md", "docs/go.txt"]


def test_an_exception_keeps_readme_at_the_root_only(tmp_path):
    # "*.md" then "!README.md": markdown at the root is excluded except README.md; subdirectories are untouched
    files = ["README.md", "CHANGES.md", "docs/guide.md", "server.js"]
    assert sent(tmp_path, "*.md\n!README.md\n", files) == ["README.md", "docs/guide.md", "server.js"]


def test_the_last_matching_line_decides(tmp_path):
    files = ["README.md", "README-secret.md", "README-public.md", "NOTES.md"]
    # "*.md", "!README*.md", "README-secret.md": every README but README-secret.md
    assert sent(tmp_path / "a", "*.md\n!README*.md\nREADME-secret.md\n", files) == ["README-public.md", "README.md"]
    # "*.md", "README-secret.md", "!README*.md": the middle line has no effect, all READMEs are sent
    assert sent(tmp_path / "b", "*.md\nREADME-secret.md\n!README*.md\n", files) == [
        "README-public.md", "README-secret.md", "README.md"]


def test_star_then_exceptions_names_what_is_sent(tmp_path):
    # "specify * as the first pattern, followed by one or more ! exception patterns"
    files = ["server.js", "package.json", "node_modules/x/index.js", "notes.txt"]
    assert sent(tmp_path, "*\n!server.js\n!package.json\n", files) == ["package.json", "server.js"]


def test_a_leading_slash_and_dot_segments_are_cleaned(tmp_path):
    # "/foo/bar and foo/bar both exclude a file or directory named bar in the foo subdirectory"; "." is ignored
    files = ["foo/bar", "foo/bar/inside.txt", "bar", "other/foo/bar"]
    expected = ["bar", "other/foo/bar"]
    assert sent(tmp_path / "a", "/foo/bar\n", files) == expected
    assert sent(tmp_path / "b", "foo/./baz/../bar\n.\n", files) == expected


def test_excluding_a_directory_excludes_its_contents_unless_an_exception_names_them(tmp_path):
    files = ["logs/a.log", "logs/keep/b.log", "logs/keep.txt"]
    assert sent(tmp_path, "logs\n!logs/keep.txt\n", files) == ["logs/keep.txt"]


def test_only_a_hash_in_column_one_is_a_comment(tmp_path):
    # Docker: a line starting with # in column 1 is a comment; " #x" is a pattern (trimmed to "#x")
    assert sent(tmp_path, "#x\n", ["#x"]) == ["#x"]
    assert sent(tmp_path / "b", "  #x\n", ["#x"]) == []


@pytest.mark.parametrize("pattern, excluded, kept", [
    ("file[0-9].txt", ["file1.txt"], ["filea.txt", "file10.txt"]),
    ("file[^0-9].txt", ["filea.txt"], ["file1.txt"]),
    ("f\\*.txt", ["f*.txt"], ["fx.txt"]),
    ("dir?x", [], ["dir/x"]),               # ? and [...] never match the separator
    ("dir[/]x", [], ["dir/x"]),
])
def test_go_match_classes_and_escapes(tmp_path, pattern, excluded, kept):
    assert sent(tmp_path, pattern + "\n", excluded + kept) == sorted(kept)


def test_an_unterminated_class_is_refused(tmp_path):
    app = make_app(tmp_path / "app", {"a": "x"}, "file[0-9.txt\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "inputs", str(app), "Dockerfile", "--no-git"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "unterminated or empty character class" in proc.stderr


def digest_of(app):
    return engine.digest(engine.read_entries(engine.context_entries(str(app), "Dockerfile")))


def test_the_digest_follows_what_a_build_sends(tmp_path):
    app = make_app(tmp_path / "app", {"server.js": "v1", "notes.md": "n", "node_modules/x.js": "m"},
                   "*.md\nnode_modules\n")
    first = digest_of(app)
    assert first["files"] == 3                          # Dockerfile, .dockerignore, server.js
    (app / "notes.md").write_text("edited")
    (app / "node_modules" / "x.js").write_text("edited")
    assert digest_of(app) == first                      # excluded files change nothing
    (app / "server.js").write_text("v2")
    assert digest_of(app)["sha256"] != first["sha256"]


def test_the_dockerfile_and_dockerignore_always_count(tmp_path):
    app = make_app(tmp_path / "app", {"server.js": "v1"}, "Dockerfile\n.dockerignore\n")
    first = digest_of(app)
    assert first["files"] == 3
    (app / "Dockerfile").write_text("FROM scratch\nUSER 1000\n")
    assert digest_of(app)["sha256"] != first["sha256"]


def test_the_executable_bit_and_the_path_count(tmp_path):
    app = make_app(tmp_path / "app", {"run.sh": "echo hi"})
    first = digest_of(app)["sha256"]
    os.chmod(app / "run.sh", 0o755)
    executable = digest_of(app)["sha256"]
    assert executable != first
    (app / "run.sh").rename(app / "start.sh")
    assert digest_of(app)["sha256"] not in (first, executable)


def run_script(app, *args):
    proc = subprocess.run([sys.executable, str(SCRIPT), "inputs", str(app), "Dockerfile", *args],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_the_script_reports_the_app_and_its_last_commit(tmp_path):
    repo = tmp_path / "repo"
    app = make_app(repo / "app", {"package.json": json.dumps({"name": "hello", "version": "1.2.3"})})
    (repo / "elsewhere.txt").write_text("x")
    git(repo, "init", "-q")
    git(repo, "add", "app")
    git(repo, "commit", "-q", "-m", "app")
    app_commit = git(repo, "rev-parse", "--short", "HEAD")
    git(repo, "add", "elsewhere.txt")
    git(repo, "commit", "-q", "-m", "not the app")

    result = run_script(app)
    assert result["exists"] and result["dockerfile"]
    assert result["package"] == {"name": "hello", "version": "1.2.3"}
    assert (result["commit"], result["dirty"]) == (app_commit, False)   # the last commit touching app/, not HEAD
    assert result["sha256"] == digest_of(app)["sha256"]

    (app / "server.js").write_text("new")
    assert run_script(app)["dirty"] is True
    assert run_script(app, "--no-git")["commit"] == ""


def test_the_script_outside_git_and_without_a_directory(tmp_path):
    app = make_app(tmp_path / "app", {})
    assert (run_script(app)["commit"], run_script(app)["dirty"]) == ("", False)
    missing = run_script(tmp_path / "nope")
    assert (missing["exists"], missing["dockerfile"], missing["files"]) == (False, False, 0)


def test_a_socket_is_left_out_and_a_fifo_counts_without_being_read(tmp_path):
    """docker build leaves sockets out of the context and sends a FIFO as a header without content: the digest
    does the same, where it used to fail on the socket (OSError: No such device or address) and would block on
    the FIFO."""
    import socket

    app = make_app(tmp_path / "app", {"server.js": "x"})
    before = engine.digest(engine.read_entries(engine.context_entries(str(app), "Dockerfile")))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(app / "debug.sock"))
    try:
        assert engine.digest(engine.read_entries(engine.context_entries(str(app), "Dockerfile"))) == before
        os.mkfifo(app / "pipe")
        with_fifo = engine.digest(engine.read_entries(engine.context_entries(str(app), "Dockerfile")))
        assert with_fifo["files"] == before["files"] + 1 and with_fifo["sha256"] != before["sha256"]
    finally:
        listener.close()


def test_the_build_sends_what_the_digest_covers(tmp_path):
    """`build` sends a tar of exactly the entries `inputs` digests: the name of the image is the digest of what
    was built. Owned by root (as the Docker CLI sends them), a symlink as a link, the executable bit kept."""
    import io
    import tarfile

    app = make_app(tmp_path / "app", {"server.js": "x", "notes.md": "n", "lib/a.js": "a", "node_modules/m.js": "m"},
                   "*.md\nnode_modules\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    (app / "link.js").symlink_to("server.js")
    entries = engine.context_entries(str(app), "Dockerfile")
    with tarfile.open(fileobj=io.BytesIO(engine.context_tar(engine.read_entries(entries)))) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert sorted(members) == [rel for rel, _full in entries] == [
            ".dockerignore", "Dockerfile", "lib/a.js", "link.js", "run.sh", "server.js"]
        assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
        assert members["link.js"].issym() and members["link.js"].linkname == "server.js"
        assert members["run.sh"].mode & 0o111 and not members["server.js"].mode & 0o111
        assert tar.extractfile("lib/a.js").read() == b"a"


def plan_names(app, spec=None):
    """What `plan` names the image, and the questions it would ask the engine (plan_options)."""
    result = {}
    options = engine.plan_options(dict({"app_dir": str(app), "dockerfile": "Dockerfile", "git": False, "name": "",
                                        "version": "", "registry": "", "base": "", "content": True, "inputs": {},
                                        "ask_registry": "", "manifests": False}, **(spec or {})), result)
    return {key: result[key] for key in ("name", "version", "commit_tag", "repository")}, options


@pytest.mark.parametrize("package, name, version", [
    ({"name": "hello-k8s", "version": "0.0.1"}, "hello-k8s", "0.0.1"),
    # A scoped package's @ goes; a repository name is lower case.
    ({"name": "@Team/Web-App", "version": "1.0.0"}, "team/web-app", "1.0.0"),
    # A character a tag may not hold becomes "-"; a number is its text.
    ({"name": "x", "version": "1.0.0+build/7"}, "x", "1.0.0-build-7"),
    ({"name": "x", "version": 2}, "x", "2"),
    ({"name": "x", "version": "v" + "1" * 150}, "x", "v" + "1" * 99),
    # Missing or null: nothing to name it after (inputs.yml says so).
    ({"version": "1.0.0"}, "", "1.0.0"),
    ({"name": "x", "version": None}, "x", ""),
    (["not", "an", "object"], "", ""),
], ids=["plain", "scoped-upper", "odd-characters", "number", "long", "no-name", "null-version", "not-an-object"])
def test_plan_names_the_image_after_package_json(tmp_path, package, name, version):
    app = make_app(tmp_path / "app", {"package.json": json.dumps(package)})
    names, options = plan_names(app)
    assert (names["name"], names["version"]) == (name, version)
    if name and version:
        assert options["tags"] == [version] and options["content"][0] == version
    else:   # no tag question to ask the engine without a name and a version
        assert options["tags"] == [] and options["content"] is None


def test_plan_takes_the_variables_over_package_json_and_names_the_repository(tmp_path):
    app = make_app(tmp_path / "app", {"package.json": json.dumps({"name": "pkg", "version": "1.0.0"})})
    names, options = plan_names(app, {"name": "web", "version": "2.0", "registry": "reg.example:5000/team",
                                      "ask_registry": "reg.example:5000", "manifests": True,
                                      "inputs": {"dockerfile": "Dockerfile", "args": {}, "labels": {}}})
    assert names == {"name": "web", "version": "2.0", "commit_tag": "", "repository": "reg.example:5000/team/web"}
    assert options["manifests_of"] == "team/web" and options["registry"] == "reg.example:5000"
    # The content tag's inputs are the role's with the context's digest, which `inputs` reports.
    assert options["content"] == ("2.0", {"dockerfile": "Dockerfile", "args": {}, "labels": {},
                                          "context": run_script(app, "--no-git")["sha256"]})


def test_plan_tags_the_last_commit_and_marks_it_dirty(tmp_path):
    repo = tmp_path / "repo"
    app = make_app(repo / "app", {"package.json": json.dumps({"name": "hello", "version": "1.2.3"})})
    git(repo, "init", "-q")
    git(repo, "add", "app")
    git(repo, "commit", "-q", "-m", "app")
    commit = git(repo, "log", "-1", "--format=%h")
    names, options = plan_names(app, {"git": True})
    assert names["commit_tag"] == commit and options["tags"] == ["1.2.3", commit]
    (app / "server.js").write_text("// edit\n")
    assert plan_names(app, {"git": True})[0]["commit_tag"] == commit + "-dirty"
    assert plan_names(app, {"git": False})[0]["commit_tag"] == ""
