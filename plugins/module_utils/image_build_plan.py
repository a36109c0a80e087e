# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The image builder's rules, each written once: how the image is named, the content tag, and what of it is in
place. Pure functions over plain data (what the app directory, the engine and the registry said), unit-tested
without an engine.

- name: the `name` option, else package.json's name without a leading "@", lowercased;
- version: the `version` option, else package.json's version with every character a tag cannot hold made "-",
  cut so that the content tag still fits Docker's tag limit;
- content tag: <version>-<the first 12 hex of the sha256 of the build inputs>: the Dockerfile's name, the build
  arguments and labels, the digest of the build context, and the base image's ID. It is new exactly when an input
  changed, so an unchanged app never rebuilds and every edit does;
- commit tag: the app directory's last git commit, "-dirty" while it has uncommitted changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

# Docker's tag grammar, the one limit: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
TAG_MAX = 128
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,%d}$" % (TAG_MAX - 1))
DIGEST_HEX = 12
# A version leaves room for "-<digest>" in its content tag.
VERSION_MAX = TAG_MAX - 1 - DIGEST_HEX
NAME = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
REF_TAGS = ("content", "version", "commit")


def _text(value):
    return "" if value is None else str(value)


def image_names(options, package, commit, dirty):
    """{"name", "version", "commit_tag", "repository"} from the options (name, version, registry), package.json (a
    dict or None) and the last commit of the app directory."""
    package = package if isinstance(package, dict) else {}
    name = options.get("name") or re.sub(r"^@", "", _text(package.get("name"))).lower()
    version = _text(options.get("version")) or re.sub(r"[^A-Za-z0-9_.-]", "-", _text(package.get("version")))[:VERSION_MAX]
    commit_tag = (commit + ("-dirty" if dirty else "")) if commit else ""
    registry = options.get("registry") or ""
    return {"name": name, "version": version, "commit_tag": commit_tag,
            "repository": registry + "/" + name if registry else name}


def content_tag(version, inputs):
    """(content tag, full digest) of the build inputs, keys sorted, as JSON with the default separators."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8")).hexdigest()
    return "%s-%s" % (version, digest[:DIGEST_HEX]), digest


def build_inputs(dockerfile, args, labels, context_sha256, base_id):
    return {"dockerfile": dockerfile, "args": dict(args), "labels": dict(labels), "context": context_sha256,
            "base": base_id}


def pushed_digests(image, repository):
    """The manifest digests the engine pushed image as to repository (its RepoDigests there)."""
    prefix = repository + "@"
    return [ref[len(prefix):] for ref in (image or {}).get("RepoDigests") or [] if ref.startswith(prefix)]


def in_place(repository, content, extra_tags, engine_ids, built, push, registry_digests):
    """What of the image is in place: {"content_in_place", "tags_to_do", "pushed"}.

    engine_ids: name:tag -> image ID the engine has; built: the content tag's image ({"Id", "RepoDigests"}) or None;
    registry_digests: tag -> manifest digest the registry serves (None: no such tag), {} when it was not asked.
    The content is in place when the engine has it and, when pushing, the registry's content tag names a manifest
    the engine pushed. A version or commit tag is to do when it names another image in the engine or, when pushing,
    another manifest in the registry."""
    built_id = (built or {}).get("Id") or ""
    pushed = pushed_digests(built, repository)
    to_do = []
    for tag in extra_tags:
        if (not built_id or engine_ids.get(repository + ":" + tag) != built_id
                or (push and registry_digests.get(tag) not in pushed)):
            to_do.append(tag)
    content_ok = bool(built_id) and (not push or registry_digests.get(content) in pushed)
    return {"content_in_place": content_ok, "tags_to_do": to_do, "pushed": pushed}


def extra_tags(names, content):
    """The version and commit tags besides the content tag, each once."""
    out = []
    for tag in (names["version"], names["commit_tag"]):
        if tag and tag != content and tag not in out:
            out.append(tag)
    return out


def ref_tag(kind, names, content):
    return {"content": content, "version": names["version"], "commit": names["commit_tag"]}[kind]


def pull_policy(push, kind):
    """Tags named after content never change meaning, so a node's copy is the right one; a pushed version or commit
    tag may have moved to a new build, so the node must ask the registry."""
    return "Always" if push and kind != "content" else "IfNotPresent"


def failed_step(log):
    """The step a failed build stopped at and what it printed: the lines from the last "Step n/m :" on, less the
    builder's own ("---> ...", "Removing intermediate container ..."), without terminal colours."""
    out = []
    for line in (line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines()):
        if re.match(r"^Step [0-9]+/[0-9]+ :", line):
            out = []
        if line and not re.match(r"^(---> |Removing intermediate container )", line):
            out.append(line)
    return out


REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")


def option_problems(options, names):
    """Messages for option values no engine is needed to refuse, each naming the option as names calls it. The
    image role runs these before anything changes (its validate.yml, through the image_build_problems filter), and
    the module again on its own options."""
    from ansible_collections.kubedev.devloop.plugins.module_utils.image_ref import validate_image_reference

    problems = []
    registry = options.get("registry") or ""
    push = options.get("push")
    push = bool(registry) if push is None else bool(push)
    auth = options.get("registry_auth")
    auth = bool(options.get("registry_username")) if auth is None else bool(auth)
    if push and not registry:
        problems.append("%s is true but %s is empty: expected the registry to push to as host[:port][/path] (for "
                        "example 127.0.0.1:5000)." % (names["push"], names["registry"]))
    if push and auth and not (options.get("registry_username") and options.get("registry_password")):
        problems.append("%s=%s: pushing there needs a login (%s is true): expected both %s (got '%s') and %s (given: "
                        "%s; keep it in Ansible Vault)." % (
                            names["registry"], registry, names["registry_auth"], names["registry_username"],
                            options.get("registry_username") or "", names["registry_password"],
                            bool(options.get("registry_password"))))
    if registry and not REGISTRY.match(registry):
        problems.append("%s='%s' is not host[:port][/path]: expected an address such as 127.0.0.1:5000, "
                        "registry.example.com/team or docker.io/myuser (no scheme, lowercase path)."
                        % (names["registry"], registry))
    if options.get("name") and not NAME.match(options["name"]):
        problems.append("%s='%s': expected lowercase path components ([a-z0-9] separated by '.', '_', '-' or '/'), "
                        "or empty for the name in package.json." % (names["name"], options["name"]))
    version = _text(options.get("version"))
    if version and not (TAG.match(version) and len(version) <= VERSION_MAX):
        problems.append("%s='%s' is not a Docker tag: expected [A-Za-z0-9_] followed by up to %d of [A-Za-z0-9_.-], "
                        "or empty for the version in package.json." % (names["version"], version, VERSION_MAX - 1))
    base = options.get("base_image") or ""
    problem = validate_image_reference(base) if base else None
    if problem:
        problems.append("%s='%s' is not an image reference: %s. Expected one like node:22-bookworm-slim or "
                        "registry.example.com/team/base:1.2, or empty for the Dockerfile's default."
                        % (names["base_image"], base, problem))
    return problems
