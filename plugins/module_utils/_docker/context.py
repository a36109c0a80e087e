# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The build context of a directory, as the Docker CLI sends it for `DOCKER_BUILDKIT=0 docker build DIR`.

What is sent, and how, follows the CLI's own code, read (not copied) and checked against the CLI itself
(tests/integration/test_docker_context_differential.py runs the real CLI on the same directories):

- .dockerignore is read as moby's patternmatcher/ignorefile.ReadAll reads it: a UTF-8 BOM at the start goes, a
  line starting with '#' is a comment, whitespace is trimmed, a leading '!' makes an exception, each pattern is
  cleaned as Go's filepath.Clean cleans a path and loses a leading '/'.
- A pattern is Go's filepath.Match syntax (checked as it checks it) turned into a regular expression the way
  moby's patternmatcher does, `**` included, with that translation's quirks kept: '[...]' classes and escapes
  reach the regular expression as written, so '[/]' and '[^a]' can match the separator and '\\d' is a digit.
- The walk is moby's go-archive TarWithOptions: lexical order, the last matching pattern decides, a pattern that
  matched a directory covers what is inside it, an excluded directory is entered only when an exception pattern
  starts with its path, and an excluded directory is itself never sent. Directories, symlinks (never followed),
  FIFOs and devices are members; sockets are left out; a file with several hard links is sent once, later
  names as hard links to the first. Owner 0:0 with no names (the CLI's ChownOpts), mtimes in whole seconds.
- The Dockerfile and .dockerignore are sent even when a pattern excludes them (the CLI's
  TrimBuildFilesFromExcludes), and the CLI's ValidateContextDirectory refusals (a file it cannot read) apply.

Nothing here holds a file in memory: the digest and the tar read each file in chunks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import stat
import tarfile

DOCKERIGNORE = ".dockerignore"
BLOCK = 512
# Go's bufio.Scanner refuses a line longer than its 64 KiB buffer; the CLI then refuses the .dockerignore.
MAX_LINE = 64 * 1024 - 1
UTF8_BOM = b"\xef\xbb\xbf"
# What Go's strings.TrimSpace trims (unicode.IsSpace); Python's str.strip() trims \x1c-\x1f as well.
GO_SPACE = u"\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           u"\u2028\u2029\u202f\u205f\u3000"


class ContextError(ValueError):
    """A build context Docker would refuse too (message names the .dockerignore file/line or the path)."""


# .dockerignore


def _clean(path):
    """Go's path/filepath.Clean on a '/'-separated path."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _read_lines(path):
    """(line number, pattern) of a .dockerignore, as ignorefile.ReadAll reads it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ContextError("error reading %s: %s" % (path, error.strerror or error))
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, raw in enumerate(lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > MAX_LINE:
            raise ContextError("error reading %s: line %d: bufio.Scanner: token too long" % (path, number))
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        line = raw.decode("utf-8", "surrogateescape")
        if line.startswith("#"):
            continue
        line = line.strip(GO_SPACE)
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip(GO_SPACE)
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append((number, "!" + line if invert else line))
    return out


def read_dockerignore(app_dir):
    """The patterns of app_dir/.dockerignore exactly as the Docker CLI reads them (an exception keeps its '!'); []
    without the file. '.' stays in the list as in the CLI's, where it matches nothing."""
    path = os.path.join(app_dir, DOCKERIGNORE)
    if not os.path.lexists(path):
        return []
    return [pattern for _number, pattern in _read_lines(path)]


# Patterns


class _BadPattern(Exception):
    """A pattern Go's filepath.Match or regexp would refuse (ErrBadPattern)."""


def _check_match_syntax(pattern):
    """Raise _BadPattern where Go's filepath.Match(pattern, ".") returns ErrBadPattern (it checks all of it)."""
    i, n = 0, len(pattern)

    def class_char(i):
        if i >= n or pattern[i] in "-]":
            raise _BadPattern("a character class ends early or has a stray '-' or ']'")
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise _BadPattern("'\\' ends the pattern")
        if u"\udc80" <= pattern[i] <= u"\udcff":
            raise _BadPattern("a character class holds a byte that is not UTF-8")
        return i + 1

    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise _BadPattern("'\\' ends the pattern")
            i += 2
        elif c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges:
                    i += 1
                    break
                i = class_char(i)
                if i < n and pattern[i] == "-":
                    i = class_char(i + 1)
                ranges += 1
        else:
            i += 1


# Go's regexp (RE2 syntax, Perl flags) as Python's re, for what patternmatcher's translation can produce.
_CONTROL = {"a": "\\x07", "f": "\\x0c", "t": "\\t", "n": "\\n", "r": "\\r", "v": "\\x0b"}
_GO_SPACE_CLASS = "\\t\\n\\x0c\\r "
_PERL_IN_CLASS = {"d": "0-9", "w": "0-9A-Za-z_", "s": _GO_SPACE_CLASS, "D": "\\D", "W": "\\W", "S": "\\S"}
_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
          "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
          "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\x0b\\x0c\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
          "xdigit": "0-9A-Fa-f"}


def _unmodelled(escape):
    return _BadPattern("the regular expression escape '\\%s' (Docker passes escapes on to Go's regexp) is not "
                       "modelled here; escape only punctuation" % escape)


def _go_escape(src, i, in_class):
    """The Python regex for Go's escape at src[i] == '\\', and the index after it."""
    if i + 1 >= len(src):
        raise _BadPattern("'\\' ends the regular expression")
    c = src[i + 1]
    if c < u"\x80" and not c.isalnum():
        return re.escape(c), i + 2
    if c in _CONTROL:
        return _CONTROL[c], i + 2
    if in_class:
        if c in _PERL_IN_CLASS:
            return _PERL_IN_CLASS[c], i + 2
        if c in "xpP01234567":
            raise _unmodelled(c)
        raise _BadPattern("invalid escape sequence '\\%s' in a character class" % c)
    if c in "dws":
        return "[" + _PERL_IN_CLASS[c] + "]", i + 2
    if c in "DWS":
        return "[^" + _PERL_IN_CLASS[c.lower()] + "]", i + 2
    if c in "bBA":
        return "\\" + c, i + 2
    if c == "z":
        return "\\Z", i + 2
    if c in "xpPQE01234567":
        raise _unmodelled(c)
    raise _BadPattern("invalid escape sequence '\\%s'" % c)


def _go_class(src, i):
    """The Python regex for Go's character class opening at src[i] == '[', and the index after it."""
    n = len(src)
    i += 1
    out = ["["]
    if i < n and src[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i >= n or src[i] != "]" or first:
        first = False
        if src.startswith("[:", i):
            end = src.find(":]", i + 2)
            if end >= 0:
                name = src[i + 2:end]
                if name not in _POSIX:
                    raise _BadPattern("invalid character class range '%s'" % src[i:end + 2])
                out.append(_POSIX[name])
                i = end + 2
                continue
        if src.startswith("\\", i) and i + 1 < n and src[i + 1] in _PERL_IN_CLASS:
            out.append(_PERL_IN_CLASS[src[i + 1]])
            i += 2
            continue
        lo, lo_regex, i = _go_class_char(src, i)
        if i + 1 < n and src[i] == "-" and src[i + 1] != "]":
            hi, hi_regex, i = _go_class_char(src, i + 1)
            if hi < lo:
                raise _BadPattern("invalid character class range '%s-%s'" % (lo, hi))
            out.append(lo_regex + "-" + hi_regex)
        else:
            out.append(lo_regex)
    out.append("]")
    return "".join(out), i + 1


def _go_class_char(src, i):
    """(the character, its Python regex, the index after it) of one member of a Go character class."""
    if i >= len(src):
        raise _BadPattern("missing closing ]")
    if src[i] == "\\":
        regex, end = _go_escape(src, i, in_class=True)
        if len(regex) > 2 or (len(regex) == 2 and regex[0] != "\\"):
            raise _BadPattern("invalid character class range")
        char = {"\\x07": "\x07", "\\x0c": "\x0c", "\\t": "\t", "\\n": "\n", "\\r": "\r", "\\x0b": "\x0b"}.get(
            regex, regex[-1])
        return char, re.escape(char), end
    return src[i], re.escape(src[i]), i + 1


def _go_regex_to_python(src):
    """Go's regexp syntax, as patternmatcher produces it, in Python's; Go's '$' (end of text) is '\\Z'."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            regex, i = _go_escape(src, i, in_class=False)
            out.append(regex)
        elif c == "[":
            regex, i = _go_class(src, i)
            out.append(regex)
        elif c == "(":
            out.append("(?:")
            i += 1
        elif c == "$":
            out.append("\\Z")
            i += 1
        elif c in "^)?*.":
            out.append(c)
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


class _Pattern:
    """One pattern as moby's patternmatcher compiles it: an exact path, a prefix (`x**`), a suffix (`**x`) or a
    regular expression."""

    __slots__ = ("text", "exclusion", "dirs", "how", "regex")

    def __init__(self, text, exclusion):
        self.text, self.exclusion = text, exclusion
        self.dirs = text.split("/")
        self.how, self.regex = self._compile(text)

    @staticmethod
    def _compile(text):
        regex, how, i, n, first = ["^"], "exact", 0, len(text), True
        while i < n:
            c = text[i]
            i += 1
            if c == "*" and text.startswith("*", i):
                i += 1
                if text.startswith("/", i):
                    i += 1
                if i >= n:
                    if how == "exact":
                        how = "prefix"
                    else:
                        regex.append(".*")
                        how = "regex"
                else:
                    regex.append("(.*/)?")
                    how = "regex"
                if first:
                    how = "suffix"
            elif c == "*":
                regex.append("[^/]*")
                how = "regex"
            elif c == "?":
                regex.append("[^/]")
                how = "regex"
            elif c in ".+()|{}$":
                regex.append("\\" + c)
            elif c == "\\":
                if i < n:
                    regex.append("\\" + text[i])
                    i += 1
                    how = "regex"
                else:
                    regex.append("\\\\")
            elif c in "[]":
                regex.append(c)
                how = "regex"
            else:
                regex.append(c)
            first = False
        if how != "regex":
            return how, None
        regex.append("$")
        try:
            return how, re.compile(_go_regex_to_python("".join(regex)), re.ASCII)
        except re.error as error:
            raise _BadPattern("the regular expression it makes is invalid: %s" % error)

    def match(self, path):
        if self.how == "exact":
            return path == self.text
        if self.how == "prefix":
            return path.startswith(self.text[:-2])
        if self.how == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None

    def parents_match(self, path):
        """Whether the pattern matches a directory path is inside ("a", "a/b" of "a/b/c")."""
        parts = path.split("/")[:-1]
        return any(self.match("/".join(parts[:k])) for k in range(1, len(parts) + 1))


class _Matcher:
    """moby's patternmatcher.PatternMatcher over a list of patterns ('!' for an exception)."""

    def __init__(self, patterns, where=None):
        self.patterns = []
        for index, raw in enumerate(patterns):
            text = _clean(raw.strip(GO_SPACE)) if raw.strip(GO_SPACE) else ""
            if not text:
                continue
            try:
                exclusion = text.startswith("!")
                if exclusion:
                    if text == "!":
                        raise _BadPattern('illegal exclusion pattern: "!"')
                    text = text[1:]
                _check_match_syntax(text)
                self.patterns.append(_Pattern(text, exclusion))
            except _BadPattern as error:
                place = where(index) if where else "pattern %d" % (index + 1)
                raise ContextError("%s: %r: syntax error in pattern: %s" % (place, raw, error))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def matching(self, path, ancestors):
        """For patternmatcher's MatchesOrParentMatches (what the CLI's ValidateContextDirectory asks): which
        patterns match path or a directory it is in, given which match the directory path is in or one of its."""
        return [above or pattern.match(path) for above, pattern in zip(ancestors, self.patterns)]

    def decide(self, matching):
        """MatchesOrParentMatches' answer from matching(): the last pattern that matches decides."""
        for matched, pattern in zip(reversed(matching), reversed(self.patterns)):
            if matched:
                return not pattern.exclusion
        return False

    def matches_one_parent(self, path):
        """patternmatcher's deprecated Matches (what TrimBuildFilesFromExcludes asks): only the parent as deep as
        the pattern is checked."""
        path = _clean(path)
        if path == ".":
            return False
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match and parent != "." and len(pattern.dirs) <= len(parent_dirs):
                match = pattern.match("/".join(parent_dirs[:len(pattern.dirs)]))
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_using_parent_results(self, path, parent):
        """patternmatcher's MatchesUsingParentResults (what go-archive's walk asks): (excluded, what matched, to
        hand to the entries of path when it is a directory). parent is the directory's answer, None at the top."""
        matched = False
        info = [False] * len(self.patterns)
        for index, pattern in enumerate(self.patterns):
            match = bool(parent) and parent[index]
            if not match:
                if pattern.exclusion != matched:
                    continue
                match = pattern.match(path)
                if not match and not parent:
                    match = pattern.parents_match(path)
            info[index] = match
            if match:
                matched = not pattern.exclusion
        return matched, info

    def may_enter(self, directory):
        """Whether go-archive walks into an excluded directory: only if an exception pattern starts with its path."""
        if not self.exclusions:
            return False
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


# The walk


class Entry:
    """One member of the build context. rel: '/'-separated path in the context; full: absolute path; kind: 'dir',
    'file', 'exec' (a file with an executable bit), 'link' (a symlink) or 'special' (a FIFO or a device); size:
    a file's size when it was listed (0 for the others); link: a symlink's target (None otherwise); hardlink: for
    a further name of a file with several hard links, the rel of the first one sent (the tar has a hard link)."""

    __slots__ = ("rel", "full", "kind", "size", "link", "hardlink", "mode", "mtime", "mtime_ns", "type", "devmajor",
                 "devminor")

    def __init__(self, rel, full, st, link=None):
        self.rel, self.full, self.link, self.hardlink = rel, full, link, None
        self.mode = stat.S_IMODE(st.st_mode)
        self.mtime_ns = st.st_mtime_ns     # what a watcher compares; the tar carries whole seconds
        self.mtime = st.st_mtime_ns // 1000000000
        self.size, self.devmajor, self.devminor = 0, 0, 0
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFDIR:
            self.kind, self.type = "dir", tarfile.DIRTYPE
        elif fmt == stat.S_IFLNK:
            self.kind, self.type = "link", tarfile.SYMTYPE
        elif fmt == stat.S_IFREG:
            self.kind, self.type = "exec" if self.mode & 0o111 else "file", tarfile.REGTYPE
            self.size = st.st_size
        else:
            self.kind = "special"
            self.type = {stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFCHR: tarfile.CHRTYPE}.get(fmt, tarfile.BLKTYPE)
            if fmt in (stat.S_IFCHR, stat.S_IFBLK):
                self.devmajor, self.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)

    def __repr__(self):
        return "Entry(%r, %s%s)" % (self.rel, self.kind, " -> %s" % self.link if self.link is not None else "")


def _listdir(path):
    """The names in a directory in Go's os.ReadDir order (by their bytes)."""
    return sorted(os.listdir(path), key=os.fsencode)


ENTER, ENTER_STRICT = 1, 2


def _walk_tree(root, enter):
    """(rel, full, lstat) of everything under root in Go's filepath.WalkDir order (preorder, lexical).
    enter(rel, full, lstat), called for a directory before its entries, says whether to walk into it: 0 no,
    ENTER yes, ENTER_STRICT yes and a directory that cannot be listed for want of permission is a ContextError
    (the CLI's ValidateContextDirectory: "can't stat"); otherwise unreadable directories and entries that vanish
    are passed over, as go-archive passes them over."""
    stack = [_children("", root, True)]
    while stack:
        try:
            rel, full, st = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        yield rel, full, st
        if stat.S_ISDIR(st.st_mode):
            how = enter(rel, full, st)
            if how:
                stack.append(_children(rel, full, how == ENTER_STRICT))


def _children(rel_dir, full_dir, strict):
    try:
        names = _listdir(full_dir)
    except PermissionError:
        if strict:
            raise ContextError("checking context: can't stat '%s'" % full_dir)
        return
    except OSError:
        return
    for name in names:
        full = os.path.join(full_dir, name)
        try:
            st = os.lstat(full)
        except PermissionError:
            if strict:
                raise ContextError("checking context: can't stat '%s'" % full)
            continue
        except OSError:
            continue
        yield (rel_dir + "/" + name if rel_dir else name), full, st


def _check_readable(full, st):
    """The CLI's ValidateContextDirectory opens each file it sends (not symlinks, not FIFOs): one it may not
    read is refused."""
    if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return
    flags = os.O_RDONLY | getattr(os, "O_NOCTTY", 0)
    if not stat.S_ISREG(st.st_mode):
        flags |= getattr(os, "O_NONBLOCK", 0)
    try:
        os.close(os.open(full, flags))
    except PermissionError:
        raise ContextError("checking context: no permission to read from '%s'" % full)
    except OSError:
        pass


class _Dir:
    """What the walk knows of a directory while in it: for the CLI's check (ValidateContextDirectory, on the
    .dockerignore patterns) whether it looks inside and which patterns match the directory or a parent; for the
    tar (go-archive) whether it sends what is inside and the directory's MatchesUsingParentResults answer."""

    __slots__ = ("rel", "checked", "ancestors", "sent", "info")

    def __init__(self, rel, checked, ancestors, sent, info):
        self.rel, self.checked, self.ancestors, self.sent, self.info = rel, checked, ancestors, sent, info


class BuildContext:
    """The build context of app_dir as `docker build` (the classic builder's CLI) sends it. dockerfile is relative
    to app_dir (as the engine API's dockerfile parameter)."""

    def __init__(self, app_dir, dockerfile="Dockerfile"):
        self.app_dir = os.path.realpath(app_dir)   # the CLI evaluates symlinks in the context path
        if not os.path.isdir(self.app_dir):
            raise ContextError("context must be a directory: %s" % app_dir)
        self.dockerfile = dockerfile
        full = os.path.realpath(os.path.join(self.app_dir, dockerfile))
        self.dockerfile_rel = os.path.relpath(full, self.app_dir).replace(os.sep, "/")

    # What is sent

    def _patterns(self):
        """The .dockerignore patterns and a function naming the file and line of the i-th."""
        path = os.path.join(self.app_dir, DOCKERIGNORE)
        if not os.path.lexists(path):
            return [], None
        lines = _read_lines(path)

        def where(index):
            if index < len(lines):
                return "%s:%d" % (path, lines[index][0])
            return "the exception the CLI adds for the Dockerfile"

        return [p for _n, p in lines], where

    def entries(self):
        """The members of the context in the order the CLI sends them (Go's WalkDir order: by path, component by
        component); sockets left out, as the CLI leaves them out. One walk answers both what the CLI checks
        (ValidateContextDirectory, which refuses a file it may not read) and what it sends."""
        patterns, where = self._patterns()
        checker = _Matcher(patterns, where)
        matcher = checker
        for name in (DOCKERIGNORE, self.dockerfile_rel):    # TrimBuildFilesFromExcludes
            if matcher.matches_one_parent(name):
                patterns = patterns + ["!" + name]
                matcher = _Matcher(patterns, where)

        out, seen_inodes = [], {}
        stack = [_Dir("", True, [False] * len(checker.patterns), True, None)]
        entering = {}

        def enter(rel, full, st):
            return entering.pop(rel)

        for rel, full, st in _walk_tree(self.app_dir, enter):
            while stack[-1].rel and not rel.startswith(stack[-1].rel + "/"):
                stack.pop()
            parent = stack[-1]
            is_dir = stat.S_ISDIR(st.st_mode)
            checked = ancestors = sent = info = None
            if parent.checked:
                ancestors = checker.matching(rel, parent.ancestors)
                checked = not checker.decide(ancestors)
                if checked:
                    _check_readable(full, st)
            if parent.sent:
                excluded, info = matcher.matches_using_parent_results(rel, parent.info)
                sent = not excluded or (is_dir and matcher.may_enter(rel))
                if not excluded and not stat.S_ISSOCK(st.st_mode):
                    entry = self._entry(rel, full, st, seen_inodes)
                    if entry is not None:
                        out.append(entry)
            if is_dir:
                stack.append(_Dir(rel, checked, ancestors, sent, info))
                entering[rel] = ENTER_STRICT if checked else ENTER if sent else 0
        return out

    @staticmethod
    def _entry(rel, full, st, seen_inodes):
        link = None
        if stat.S_ISLNK(st.st_mode):
            try:
                link = os.readlink(full)
            except OSError:
                return None
        entry = Entry(rel, full, st, link)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            if st.st_ino in seen_inodes:    # go-archive keys on the inode alone
                entry.hardlink = seen_inodes[st.st_ino]
            else:
                seen_inodes[st.st_ino] = rel
        return entry

    # The digest

    def digest(self):
        """{"sha256": over each entry's path, kind, size or link target and content (read in chunks), "files":
        the entries that are not directories}. Directories count (the CLI sends them, so an empty directory is in
        the image); mtimes, owners and hard links do not."""
        total, files = hashlib.sha256(), 0
        for entry in self.entries():
            if entry.kind == "dir":
                total.update(("%s/\0dir\0\0" % entry.rel).encode("utf-8", "surrogateescape"))
                continue
            files += 1
            if entry.kind == "link":
                target = entry.link.encode("utf-8", "surrogateescape")
                total.update(("%s\0link\0%d\0" % (entry.rel, len(target))).encode("utf-8", "surrogateescape"))
                total.update(target)
                continue
            total.update(("%s\0%s\0%d\0" % (entry.rel, entry.kind, entry.size)).encode("utf-8", "surrogateescape"))
            if entry.size:
                for chunk in _content(entry, 1 << 20):
                    total.update(chunk)
        return {"sha256": total.hexdigest(), "files": files}

    # The tar

    def tar_stream(self, chunk_size=1 << 20):
        """The context as the tar the CLI sends, in pieces of about chunk_size bytes (memory stays about that,
        whatever the files). A file whose size changed since it was listed is sent as long as listed: cut, or
        padded with zeros."""
        buffer = bytearray()
        for entry in self.entries():
            buffer += _header(entry)
            if entry.type == tarfile.REGTYPE and entry.hardlink is None and entry.size:
                for chunk in _content(entry, chunk_size):
                    if len(buffer) + len(chunk) < chunk_size:
                        buffer += chunk
                        continue
                    if buffer:
                        yield bytes(buffer)
                        buffer = bytearray()
                    yield chunk
                buffer += b"\0" * (-entry.size % BLOCK)
            if len(buffer) >= chunk_size:
                yield bytes(buffer)
                buffer = bytearray()
        buffer += b"\0" * (2 * BLOCK)
        yield bytes(buffer)


def _content(entry, chunk_size):
    """entry.size bytes of the file, in chunks: what it holds now, cut or padded with zeros to the size listed."""
    left = entry.size
    try:
        handle = open(entry.full, "rb", buffering=0)
    except OSError:
        handle = None
    try:
        while left and handle is not None:
            try:
                chunk = handle.read(min(chunk_size, left))
            except OSError:
                break
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        if handle is not None:
            handle.close()
    zeros = b"\0" * min(chunk_size, left)
    while left:
        piece = zeros if left >= len(zeros) else zeros[:left]
        left -= len(piece)
        yield piece


def _header(entry):
    """The tar header of an entry as go-archive writes it: owner 0:0 without names, mtime in seconds, PAX where
    USTAR cannot say it, security.capability as a PAX record."""
    info = tarfile.TarInfo(entry.rel)
    info.mode, info.mtime = entry.mode, entry.mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.hardlink is not None:
        info.type, info.linkname = tarfile.LNKTYPE, entry.hardlink
    else:
        info.type = entry.type
        info.linkname = entry.link or ""
        info.size = entry.size if entry.type == tarfile.REGTYPE else 0
        info.devmajor, info.devminor = entry.devmajor, entry.devminor
    capability = _capability(entry.full)
    if capability is not None:
        info.pax_headers = {"SCHILY.xattr.security.capability": capability.decode("utf-8", "surrogateescape")}
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _capability(path):
    """The file's security.capability xattr as go-archive sends it (a v3 one as v2), or None."""
    if not hasattr(os, "getxattr"):
        return None
    try:
        value = os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None
    if len(value) > 3 and value[3] == 3:
        value = value[:3] + b"\x02" + value[4:20]
    return value
