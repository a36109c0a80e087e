"""The build context library (module_utils/_docker/context.py) on plain directories: what a Docker build sends
(.dockerignore with the cases of Docker's own documentation of the file, moved here from the tests of
roles/image/files/docker_engine.py), the digest the image is named after, and the tar stream. Each rule here was
checked against the Docker CLI itself: tests/integration/test_docker_context_differential.py runs the CLI on the same
cases."""

import io
import os
import socket
import tarfile

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils._docker.context import (
    BuildContext,
    ContextError,
    read_dockerignore,
)


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
    """The paths of `files` (created under root) that a build would send with this .dockerignore."""
    make_app(root, {rel: rel for rel in files}, dockerignore)
    return sorted(e.rel for e in BuildContext(str(root)).entries() if e.rel in files)


def rels(app, dockerfile="Dockerfile"):
    return [e.rel for e in BuildContext(str(app), dockerfile).entries()]


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
    # The Dockerfile and .dockerignore go all the same (the CLI adds exceptions for them), nothing else does.
    assert rels(tmp_path) == [".dockerignore", "Dockerfile", "package.json", "server.js"]


def test_a_leading_slash_and_dot_segments_are_cleaned(tmp_path):
    # "/foo/bar and foo/bar both exclude a file or directory named bar in the foo subdirectory"; "." matches nothing
    files = ["foo/bar/inside.txt", "bar", "other/foo/bar"]
    expected = ["bar", "other/foo/bar"]
    assert sent(tmp_path / "a", "/foo/bar\n", files) == expected
    assert sent(tmp_path / "b", "foo/./baz/../bar\n.\n", files) == expected
    # ".." cannot leave the context: "../bar" is cleaned to "../bar", which no path in it is
    assert sent(tmp_path / "c", "../bar\n", files) == sorted(files)


def test_excluding_a_directory_excludes_its_contents_unless_an_exception_names_them(tmp_path):
    files = ["logs/a.log", "logs/keep/b.log", "logs/keep.txt"]
    assert sent(tmp_path, "logs\n!logs/keep.txt\n", files) == ["logs/keep.txt"]
    # The excluded directory itself is not sent, only what the exception keeps.
    assert "logs" not in rels(tmp_path)


def test_an_exception_that_does_not_start_with_the_directory_does_not_reach_into_it(tmp_path):
    # go-archive enters an excluded directory only for an exception pattern starting with its path: the CLI
    # does not send logs/keep.txt for "!*/keep.txt" (checked against the CLI).
    files = ["logs/keep.txt", "other/keep.txt"]
    assert sent(tmp_path, "logs\n!*/keep.txt\n", files) == ["other/keep.txt"]


def test_a_directory_pattern_after_its_exception_is_judged_as_the_cli_walk_judges_it(tmp_path):
    # "qa", "!qa/b", "qa": the walk hands a directory's matches to its entries, where "qa" (skipped at qa itself
    # once it matched) is tried on "qa/b" alone: the CLI sends qa/b and not qa/c.
    assert sent(tmp_path, "qa\n!qa/b\nqa\n", ["qa/b", "qa/c"]) == ["qa/b"]


def test_a_trailing_slash_names_the_directory(tmp_path):
    assert sent(tmp_path, "logs/\n", ["logs/a.log", "logs.txt"]) == ["logs.txt"]


def test_only_a_hash_in_column_one_is_a_comment(tmp_path):
    # Docker: a line starting with # in column 1 is a comment; " #x" is a pattern (trimmed to "#x")
    assert sent(tmp_path, "#x\n", ["#x"]) == ["#x"]
    assert sent(tmp_path / "b", "  #x\n", ["#x"]) == []


@pytest.mark.parametrize("pattern, excluded, kept", [
    ("file[0-9].txt", ["file1.txt"], ["filea.txt", "file10.txt"]),
    ("file[^0-9].txt", ["filea.txt"], ["file1.txt"]),
    ("f\\*.txt", ["f*.txt"], ["fx.txt"]),
    ("dir?x", [], ["dir/x"]),               # ? never matches the separator
    # patternmatcher hands a class to Go's regexp as written, where [/] does match it: the CLI leaves dir/x out
    # (the old script's tests said it was sent; the CLI says otherwise).
    ("dir[/]x", ["dir/x"], []),
    # and an escape too: \d is a digit to Go's regexp (checked against the CLI).
    ("\\d.txt", ["5.txt"], ["d.txt"]),
])
def test_go_match_classes_and_escapes(tmp_path, pattern, excluded, kept):
    assert sent(tmp_path, pattern + "\n", excluded + kept) == sorted(kept)


@pytest.mark.parametrize("line, why", [
    ("file[0-9.txt", "syntax error in pattern"),          # unterminated class
    ("file[].txt", "syntax error in pattern"),            # empty class
    ("x[z-a]", "invalid"),                                # a range Go's regexp refuses
    ("!", 'illegal exclusion pattern: "!"'),
    ("foo\\", "syntax error in pattern"),                 # a trailing backslash
])
def test_a_pattern_docker_refuses_is_refused_with_its_file_and_line(tmp_path, line, why):
    app = make_app(tmp_path / "app", {"a": "x"}, "# first\nok\n" + line + "\n")
    with pytest.raises(ContextError) as raised:
        BuildContext(str(app)).entries()
    assert why in str(raised.value)
    assert "%s:3" % (app / ".dockerignore") in str(raised.value)


# .dockerignore as the CLI reads it


def test_read_dockerignore_reads_as_the_cli(tmp_path):
    (tmp_path / ".dockerignore").write_bytes(
        b"\xef\xbb\xbf.env\r\n# comment\n  #not a comment  \n\n !  /foo//bar/../baz/ \n/\n.\n**/*.go\n\t*.md")
    assert read_dockerignore(str(tmp_path)) == [".env", "#not a comment", "!foo/baz", "/", ".", "**/*.go", "*.md"]
    assert read_dockerignore(str(tmp_path / "nothing")) == []


def test_a_bom_before_the_first_rule_does_not_hide_it(tmp_path):
    # The old script kept the BOM, and its first rule (".env") silently failed.
    app = make_app(tmp_path / "app", {".env": "SECRET=1", "server.js": "x"})
    (app / ".dockerignore").write_bytes(b"\xef\xbb\xbf.env\n")
    assert rels(app) == [".dockerignore", "Dockerfile", "server.js"]


# The digest


def digest_of(app):
    return BuildContext(str(app)).digest()


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
    assert digest_of(app) == digest_of(app)             # deterministic


def test_the_dockerfile_and_dockerignore_always_count(tmp_path):
    app = make_app(tmp_path / "app", {"server.js": "v1"}, "Dockerfile\n.dockerignore\n")
    first = digest_of(app)
    assert first["files"] == 3
    (app / "Dockerfile").write_text("FROM scratch\nUSER 1000\n")
    assert digest_of(app)["sha256"] != first["sha256"]


def test_a_nested_dockerfile_is_sent_though_its_directory_is_excluded(tmp_path):
    app = make_app(tmp_path / "app", {"build/Dockerfile": "FROM scratch\n", "build/other": "x"}, "build\n")
    assert rels(app, "build/Dockerfile") == [".dockerignore", "Dockerfile", "build/Dockerfile"]


def test_the_executable_bit_and_the_path_count(tmp_path):
    app = make_app(tmp_path / "app", {"run.sh": "echo hi"})
    first = digest_of(app)["sha256"]
    os.chmod(app / "run.sh", 0o755)
    executable = digest_of(app)["sha256"]
    assert executable != first
    (app / "run.sh").rename(app / "start.sh")
    assert digest_of(app)["sha256"] not in (first, executable)


def test_mtimes_do_not_count_and_directories_do(tmp_path):
    app = make_app(tmp_path / "app", {"server.js": "x"})
    first = digest_of(app)
    os.utime(app / "server.js", (1, 1))
    assert digest_of(app) == first
    # The CLI sends directories, so an empty one ends up in the image: it changes the digest, not the file count.
    (app / "empty").mkdir()
    with_dir = digest_of(app)
    assert with_dir["files"] == first["files"] and with_dir["sha256"] != first["sha256"]


def test_a_socket_is_left_out_and_a_fifo_counts_without_being_read(tmp_path):
    """docker build leaves sockets out of the context and sends a FIFO as a header without content: the digest
    does the same (reading a FIFO would block)."""
    app = make_app(tmp_path / "app", {"server.js": "x"})
    before = digest_of(app)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(app / "debug.sock"))
    try:
        assert digest_of(app) == before
        assert "debug.sock" not in rels(app)
        os.mkfifo(str(app / "pipe"))
        with_fifo = digest_of(app)
        assert with_fifo["files"] == before["files"] + 1 and with_fifo["sha256"] != before["sha256"]
        assert [e.kind for e in BuildContext(str(app)).entries() if e.rel == "pipe"] == ["special"]
    finally:
        listener.close()


def test_symlinks_are_sent_as_links_and_not_followed(tmp_path):
    app = make_app(tmp_path / "app", {"lib/a.js": "a", "server.js": "x"})
    (app / "libs").symlink_to("lib")
    (app / "main.js").symlink_to("server.js")
    (app / "dangling").symlink_to("nowhere")
    entries = {e.rel: e for e in BuildContext(str(app)).entries()}
    assert sorted(entries) == ["Dockerfile", "dangling", "lib", "lib/a.js", "libs", "main.js", "server.js"]
    assert (entries["libs"].kind, entries["libs"].link) == ("link", "lib")
    assert (entries["main.js"].kind, entries["main.js"].link) == ("link", "server.js")
    assert entries["lib"].kind == "dir" and entries["server.js"].size == 1
    before = digest_of(app)["sha256"]
    os.remove(app / "libs")
    (app / "libs").symlink_to("server.js")
    assert digest_of(app)["sha256"] != before           # the target counts


# The tar


def tar_of(app, **kwargs):
    return tarfile.open(fileobj=io.BytesIO(b"".join(BuildContext(str(app)).tar_stream(**kwargs))))


def test_the_tar_holds_what_the_digest_covers(tmp_path):
    """The tar has exactly the entries the digest covers: owned by root without names (as the Docker CLI sends
    them), a symlink as a link, directories as directories, the executable bit kept, a second hard link as a link."""
    app = make_app(tmp_path / "app", {"server.js": "x", "notes.md": "n", "lib/a.js": "a", "node_modules/m.js": "m"},
                   "*.md\nnode_modules\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    (app / "link.js").symlink_to("server.js")
    os.link(str(app / "server.js"), str(app / "same.js"))
    entries = BuildContext(str(app)).entries()
    with tar_of(app) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert [m.name for m in tar.getmembers()] == [e.rel for e in entries] == [
            ".dockerignore", "Dockerfile", "lib", "lib/a.js", "link.js", "run.sh", "same.js", "server.js"]
        assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
        assert members["link.js"].issym() and members["link.js"].linkname == "server.js"
        assert members["lib"].isdir()
        assert members["run.sh"].mode & 0o111 and not members["server.js"].mode & 0o111
        # server.js comes after same.js in the walk, so it is the hard link to it
        assert members["same.js"].isreg() and members["server.js"].islnk()
        assert members["server.js"].linkname == "same.js"
        assert tar.extractfile("lib/a.js").read() == b"a"
        assert tar.extractfile("same.js").read() == b"x"


def test_a_file_that_changed_size_while_sent_keeps_the_stream_whole(tmp_path):
    app = make_app(tmp_path / "app", {"grows": "a" * 1000, "shrinks": "b" * 1000, "z.txt": "last"})
    context = BuildContext(str(app))
    listed = context.entries()
    (app / "grows").write_text("a" * 5000)
    (app / "shrinks").write_text("b" * 10)
    context.entries = lambda: listed                    # the walk saw the old sizes
    with tarfile.open(fileobj=io.BytesIO(b"".join(context.tar_stream(chunk_size=512)))) as tar:
        assert tar.extractfile("grows").read() == b"a" * 1000
        assert tar.extractfile("shrinks").read() == b"b" * 10 + b"\0" * 990
        assert tar.extractfile("z.txt").read() == b"last"


def test_the_tar_comes_in_bounded_pieces(tmp_path):
    app = make_app(tmp_path / "app", {"small": "s"})
    with open(str(app / "big.img"), "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    sizes = [len(chunk) for chunk in BuildContext(str(app)).tar_stream(chunk_size=1 << 20)]
    assert max(sizes) <= (1 << 20) + 4096
    assert sum(sizes) % 512 == 0 and sum(sizes) > 64 * 1024 * 1024
    with tar_of(app) as tar:
        assert tar.getmember("big.img").size == 64 * 1024 * 1024


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(ContextError, match="context must be a directory"):
        BuildContext(str(tmp_path / "nope"))
