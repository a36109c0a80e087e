#!/usr/bin/env python3
"""Print a JSON digest of a Docker build context: sha256 over the relative path, the executable
bit and the content of every file the build would send (honouring .dockerignore, roughly as
Docker does: `**`, `*`, `?`, `!` exceptions; the Dockerfile and .dockerignore always count).

Usage: context_digest.py APP_DIR [DOCKERFILE]
Output: {"sha256": "...", "files": N}
The role compares this digest with the tag of an existing image, so an unchanged directory
never rebuilds and any edit (server.js, the lockfile, the Dockerfile) does."""

import hashlib
import json
import os
import re
import sys


def pattern_to_regex(pattern):
    """A .dockerignore pattern as a regex over '/'-separated relative paths."""
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
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_rules(app_dir):
    rules = []
    path = os.path.join(app_dir, ".dockerignore")
    if not os.path.isfile(path):
        return rules
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = line[1:].strip() if negate else line
            line = os.path.normpath(line).lstrip("/")
            if line in ("", "."):
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
            entries.append((rel, full))
    total = hashlib.sha256()
    for rel, full in sorted(entries):
        if os.path.islink(full):
            kind, data = "link", os.readlink(full).encode()
        else:
            kind = "exec" if os.access(full, os.X_OK) else "file"
            with open(full, "rb") as handle:
                data = handle.read()
        total.update(f"{rel}\0{kind}\0{len(data)}\0".encode())
        total.update(data)
    return {"sha256": total.hexdigest(), "files": len(entries)}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    app_dir = sys.argv[1]
    dockerfile = sys.argv[2] if len(sys.argv) == 3 else "Dockerfile"
    if not os.path.isdir(app_dir):
        sys.exit(f"context_digest: {app_dir} is not a directory")
    print(json.dumps(digest(app_dir, dockerfile)))


if __name__ == "__main__":
    main()
