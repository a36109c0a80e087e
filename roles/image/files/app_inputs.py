"""Inspect an app directory on the target host in one go and print JSON:
{"exists", "dockerfile", "package" (package.json or null), "sha256", "files", "commit", "dirty"}.

sha256 covers the relative path, the executable bit and the content of every file a Docker build would
send (honouring .dockerignore as Docker does: `**`, `*`, `?`, `[...]`, `!` exceptions, the last matching
line decides; the Dockerfile and .dockerignore always count). The role names the image after it, so an unchanged directory never
rebuilds and any edit (server.js, the lockfile, the Dockerfile) does.
commit is the last git commit that touched the directory ("" outside git or with --no-git); dirty says
whether the directory has uncommitted changes.

Usage: app_inputs.py APP_DIR DOCKERFILE [--no-git]
"""

import hashlib
import json
import os
import re
import stat
import subprocess
import sys


def _character_class(pattern, start):
    """The regex of a Go filepath.Match class '[...]' or '[^...]' opening at start, and the index after it."""
    i = start + 1
    negate = pattern.startswith("^", i)
    i += negate
    members = []
    while i < len(pattern) and pattern[i] != "]":
        escaped = pattern[i] == "\\" and i + 1 < len(pattern)
        i += escaped
        is_range = pattern[i] == "-" and not escaped and members and pattern[i + 1:i + 2] != "]"
        members.append("-" if is_range else re.escape(pattern[i]))
        i += 1
    if i >= len(pattern) or not members:
        raise ValueError(f"unterminated or empty character class in .dockerignore pattern {pattern!r}")
    return "(?!/)[" + ("^" if negate else "") + "".join(members) + "]", i + 1


def pattern_to_regex(pattern):
    """A .dockerignore pattern as a regex over '/'-separated relative paths: Go's filepath.Match (`*`, `?`,
    `[...]`, `\\` escapes) plus Docker's `**`, which matches any number of directories."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "[":
            regex, i = _character_class(pattern, i)
            out.append(regex)
            continue
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
            out.append(re.escape(c))
        elif c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_rules(app_dir):
    """(regex, is an exception) per pattern of app_dir/.dockerignore, in file order."""
    rules = []
    path = os.path.join(app_dir, ".dockerignore")
    if not os.path.isfile(path):
        return rules
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):    # a comment only with '#' in column 1, as Docker reads them
                continue
            line = line.strip()
            negate = line.startswith("!")
            line = line[1:].strip() if negate else line
            if not line:
                continue
            line = os.path.normpath(line).lstrip("/")
            if line == ".":             # Docker ignores the pattern '.'
                continue
            rules.append((pattern_to_regex(line), negate))
    return rules


def excluded(rel, rules):
    """Last matching rule wins; a rule matching a parent directory covers what is inside it."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, negate in rules:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negate
    return verdict


def digest(app_dir, dockerfile):
    rules = read_rules(app_dir)
    always = {dockerfile, ".dockerignore"}
    entries = []
    for root, dirs, files in os.walk(app_dir):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, app_dir).replace(os.sep, "/")
            if rel not in always and excluded(rel, rules):
                continue
            if stat.S_ISSOCK(os.lstat(full).st_mode):   # docker build leaves sockets out of the context too
                continue
            entries.append((rel, full))
    total = hashlib.sha256()
    for rel, full in sorted(entries):
        mode = os.lstat(full).st_mode
        if stat.S_ISLNK(mode):
            kind, data = "link", os.readlink(full).encode()
        elif stat.S_ISREG(mode):
            kind = "exec" if os.access(full, os.X_OK) else "file"
            with open(full, "rb") as handle:
                data = handle.read()
        else:  # a FIFO or a device: the build's tar has its header, no content (and reading a FIFO would block)
            kind, data = "special", b""
        total.update(f"{rel}\0{kind}\0{len(data)}\0".encode())
        total.update(data)
    return {"sha256": total.hexdigest(), "files": len(entries)}


def git_commit(app_dir):
    """(short hash of the last commit touching app_dir, uncommitted changes?) or ("", False)."""
    try:
        log = subprocess.run(["git", "log", "-1", "--format=%h", "--", "."], cwd=app_dir,
                             capture_output=True, text=True, check=True)
        # --no-optional-locks: never take the index lock other git users in the same checkout may need.
        status = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "."], cwd=app_dir,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "", False
    commit = log.stdout.strip()
    if not re.fullmatch(r"[0-9a-f]{4,40}", commit):
        return "", False
    return commit, bool(status.stdout.strip())


def read_package(app_dir):
    path = os.path.join(app_dir, "package.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except ValueError as err:
            sys.exit(f"app_inputs: {path} is not valid JSON: {err}")


def main():
    args = [arg for arg in sys.argv[1:] if arg != "--no-git"]
    if len(args) != 2:
        sys.exit(__doc__)
    app_dir, dockerfile = args
    result = {"exists": os.path.isdir(app_dir), "dockerfile": False, "package": None,
              "sha256": "", "files": 0, "commit": "", "dirty": False}
    if result["exists"]:
        result["dockerfile"] = os.path.isfile(os.path.join(app_dir, dockerfile))
        result["package"] = read_package(app_dir)
        try:
            result.update(digest(app_dir, dockerfile))
        except ValueError as err:   # a pattern Docker would refuse too
            sys.exit(f"app_inputs: {os.path.join(app_dir, '.dockerignore')}: {err}")
        if "--no-git" not in sys.argv[1:]:
            result["commit"], result["dirty"] = git_commit(app_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
