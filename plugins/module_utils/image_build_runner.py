# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What kubedev.devloop.image_build does: plan (read the app directory, ask the engine and the registry), then
apply (load or pull the base image, build, push, tag) what the plan found missing.

plan() changes nothing. apply() does the plan's work, each step only when the plan says it is missing, and records
every action, so `changed` is true exactly when something was built, tagged, pulled or pushed. Both raise
BuildError with a message that names the option (as the caller calls it) and what to do.

The engine API is the one builder today; a builder is one function of the BUILDERS table taking the same arguments
and returning the same result, so BuildKit or `minikube image build` would be one entry and one code path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess

from ansible_collections.kubedev.devloop.plugins.module_utils._docker.context import BuildContext, ContextError
from ansible_collections.kubedev.devloop.plugins.module_utils._docker.engine import (
    Engine,
    EngineError,
    EngineSettings,
    EngineUnreachable,
    registry_auth_header,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._docker.registry import Registry, api_host, is_insecure
from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_plan import (
    build_inputs,
    content_tag,
    extra_tags,
    failed_step,
    image_names,
    in_place,
    option_problems,
    pull_policy,
    ref_tag,
)

OPTIONS = ("state", "app_dir", "dockerfile", "name", "version", "ref_tag", "tag_git_commit", "base_image",
           "base_image_archive", "build_args", "build_labels", "build_network", "builder", "registry", "push",
           "registry_username", "registry_password", "registry_auth", "docker_env")


class BuildError(Exception):
    """A failure worded for the user; details (the failed step and its output) ride along."""

    def __init__(self, message, **details):
        super(BuildError, self).__init__(message)
        self.details = details


def git_commit(app_dir):
    """(short hash of the last commit touching app_dir, uncommitted changes there?) or ("", False) outside git."""
    try:
        log = subprocess.run(["git", "log", "-1", "--format=%h", "--", "."], cwd=app_dir,
                             capture_output=True, text=True, check=True)
        # --no-optional-locks: never take the index lock other git users of the checkout may need.
        status = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "."], cwd=app_dir,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "", False
    commit = log.stdout.strip()
    if not re.match(r"^[0-9a-f]{4,40}$", commit):
        return "", False
    return commit, bool(status.stdout.strip())


def read_package(app_dir, names):
    import json

    path = os.path.join(app_dir, "package.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except ValueError as error:
        raise BuildError("%s=%s: package.json is not valid JSON (%s)" % (names["app_dir"], path, error))


class Builder(object):
    """One image: its app directory, the engine it is built with and the registry it is pushed to."""

    def __init__(self, options, names):
        self.options = options
        self.names = names          # option -> how messages call it (the caller's variable names)
        self.settings = EngineSettings(options.get("docker_env") or None)
        self.engine = Engine(self.settings)
        self.auth = registry_auth_header(options.get("registry_username") if options.get("registry_auth") else "",
                                         options.get("registry_password") or "", api_host(options.get("registry") or ""))
        self.context = None
        self.registry = None
        self.actions = []           # what apply() did so far, also when it fails midway

    # plan

    def read_app(self):
        """What the app directory holds: {"exists", "dockerfile", "package", "sha256", "files", "commit", "dirty"}."""
        options, names = self.options, self.names
        app_dir = options["app_dir"]
        if not os.path.isdir(app_dir):
            raise BuildError("%s=%s: no such directory on the target host; expected the directory of the app, with "
                             "its Dockerfile." % (names["app_dir"], app_dir))
        if not os.path.isfile(os.path.join(app_dir, options["dockerfile"])):
            raise BuildError("%s=%s has no %s (%s, relative to it): expected the app directory with its Dockerfile."
                             % (names["app_dir"], app_dir, options["dockerfile"], names["dockerfile"]))
        package = read_package(app_dir, names)
        self.context = BuildContext(app_dir, options["dockerfile"])
        try:
            digest = self.context.digest()
        except ContextError as error:
            raise BuildError("%s=%s: %s" % (names["app_dir"], app_dir, error))
        commit, dirty = git_commit(app_dir) if options["tag_git_commit"] else ("", False)
        return {"package": package, "sha256": digest["sha256"], "files": digest["files"], "commit": commit,
                "dirty": dirty}

    def names_of(self, app):
        options, names = self.options, self.names
        named = image_names(options, app["package"], app["commit"], app["dirty"])
        if not (named["name"] and named["version"]):
            raise BuildError("%s=%s: its package.json gives no usable name/version (name='%s', version='%s'): "
                             "expected both there, or set %s and %s."
                             % (names["app_dir"], options["app_dir"], named["name"], named["version"], names["name"],
                                names["version"]))
        if options["ref_tag"] == "commit" and not named["commit_tag"]:
            raise BuildError("%s=commit needs %s=true and an app directory in a git repository with at least one "
                             "commit touching it (%s=%s)."
                             % (names["ref_tag"], names["tag_git_commit"], names["app_dir"], options["app_dir"]))
        return named

    def talk_to_engine(self):
        problem = self.settings.problem()
        if problem:
            raise BuildError(problem)
        try:
            self.engine.ping()
        except EngineError as error:
            var = ("%s.DOCKER_HOST" % self.names["docker_env"] if (self.options.get("docker_env") or {}).get("DOCKER_HOST")
                   else "DOCKER_HOST")
            where = self.settings.host if var != "DOCKER_HOST" or os.environ.get("DOCKER_HOST") else (
                "(unset: %s)" % self.settings.host)
            raise BuildError("The Docker engine at %s=%s does not answer (%s). Expected a running engine: start "
                             "Docker (the tools role does), or point %s at one that runs." % (var, where, error, var))

    def asks_registry(self):
        """The registry is asked from here when the local engine pushes (it pushes from this host). minikube's engine
        pushes from its VM, whose network differs: its push speaks for itself."""
        return bool(self.options["push"]) and not (self.options.get("docker_env") or {}).get("DOCKER_HOST")

    def check_registry(self):
        """The registry answers, and takes the login when one is given; else BuildError before anything is built."""
        options, names = self.options, self.names
        host = api_host(options["registry"])
        self.registry = Registry(host, is_insecure(host, self.engine.info()),
                                 options.get("registry_username") if options.get("registry_auth") else "",
                                 options.get("registry_password") or "")
        probes = self.registry.probe()
        status = (probes["http"] or probes["https"])["status"]
        if status not in (200, 401):
            reasons = "; ".join("%s: %s" % (scheme, "answered HTTP %d, not the registry API" % probe["status"]
                                            if probe["status"] > 0 else probe["reason"] or "no answer")
                                for scheme, probe in sorted(probes.items(), reverse=True) if probe)
            raise BuildError("%s=%s: no registry answers at %s (%s). Expected the address of a running registry: is "
                             "it running, and is this the address you meant?"
                             % (names["registry"], options["registry"], host, reasons))
        if status == 401 and not options.get("registry_auth"):
            raise BuildError("%s=%s: the registry wants a login: expected %s and %s (keep it in Ansible Vault)."
                             % (names["registry"], options["registry"], names["registry_username"],
                                names["registry_password"]))
        return probes

    def log_in(self):
        """The engine's own login check (POST /auth, as docker login), from where the engine pushes."""
        import json

        options, names = self.options, self.names
        try:
            self.engine.call("POST", "/auth", body=json.dumps({
                "username": options["registry_username"], "password": options["registry_password"],
                "serveraddress": api_host(options["registry"])}).encode("utf-8"),
                headers={"Content-Type": "application/json"})
        except EngineError as error:
            said = re.search(r"(\b[0-9]{3} [A-Z][A-Za-z ]+|x509: [^\"]+|connection refused|no such host)", str(error))
            raise BuildError("%s=%s refused the login of %s=%s (%s). Expected a user and password the registry "
                             "accepts: check %s and %s (not shown here)."
                             % (names["registry"], options["registry"], names["registry_username"],
                                options["registry_username"], said.group(1).strip() if said else
                                "the registry did not say why", names["registry_username"], names["registry_password"]))

    def plan(self):
        """Everything the build depends on, and what of the image is in place. Changes nothing."""
        options = self.options
        app = self.read_app()
        named = self.names_of(app)
        self.talk_to_engine()
        repository = named["repository"]
        registry_digests, probes = {}, None
        if options["push"] and options.get("registry_auth"):
            self.log_in()
        if self.asks_registry():
            probes = self.check_registry()
        base = self.engine.inspect_image(options["base_image"]) if options.get("base_image") else None
        base_missing = bool(options.get("base_image")) and base is None
        inputs = build_inputs(options["dockerfile"], self.build_args(), options["build_labels"], app["sha256"],
                              (base or {}).get("Id", ""))
        content, digest = content_tag(named["version"], inputs) if not base_missing else ("", "")
        extras = extra_tags(named, content)
        engine_ids, built = {}, None
        for tag in ([content] if content else []) + extras:
            image = self.engine.inspect_image(repository + ":" + tag)
            if image:
                engine_ids[repository + ":" + tag] = image["Id"]
                if tag == content:
                    built = image
        if self.registry is not None and built and self.registry.base_url:
            registry_digests = dict((tag, self.registry.manifest_digest(repository.split("/", 1)[-1], tag))
                                    for tag in [content] + extras)
        decided = in_place(repository, content, extras, engine_ids, built, options["push"], registry_digests)
        return {
            "app": app, "names": named, "repository": repository, "content_tag": content, "digest": digest,
            "inputs": inputs, "base_missing": base_missing, "extra_tags": extras, "engine_ids": engine_ids,
            "built": built, "registry_digests": registry_digests, "registry": probes,
            "content_in_place": decided["content_in_place"], "tags_to_do": decided["tags_to_do"],
            "pushed": decided["pushed"],
            "up_to_date": decided["content_in_place"] and not decided["tags_to_do"] and not base_missing,
        }

    def build_args(self):
        """The build arguments: build_args, and BASE_IMAGE when base_image is given."""
        args = dict(self.options["build_args"])
        if self.options.get("base_image"):
            args["BASE_IMAGE"] = self.options["base_image"]
        return args

    # apply

    def ensure_base(self):
        """Load the base image from its archive, or pull it; returns its image."""
        options, names = self.options, self.names
        archive = options.get("base_image_archive")
        try:
            if archive:
                self.engine.load(archive)
            else:
                self.engine.pull(options["base_image"], self._auth_for(options["base_image"]))
            image = self.engine.inspect_image(options["base_image"])
            if image is None:
                raise EngineError("the engine has no %s after that" % options["base_image"])
        except EngineError as error:
            how = ("loading %s=%s" % (names["base_image_archive"], archive)) if archive else "pulling it"
            raise BuildError("%s=%s: not in the Docker engine, and %s failed (%s). Expected an image the engine has or "
                             "can pull, or a `docker save` archive of it in %s."
                             % (names["base_image"], options["base_image"], how, error, names["base_image_archive"]))
        return image

    def _auth_for(self, ref):
        """The login goes only to the registry it was given for."""
        host = ref.split("/", 1)[0] if "/" in ref else ""
        registry = self.options.get("registry") or ""
        return self.auth if registry and host == registry.split("/", 1)[0] else registry_auth_header("", "", "")

    def build(self, plan, actions):
        options, names = self.options, self.names
        ref = plan["repository"] + ":" + plan["content_tag"]
        labels = dict(options["build_labels"])
        labels.update({"org.opencontainers.image.version": plan["names"]["version"],
                       "dev.kubedev.devloop.build-digest": plan["digest"]})
        log, error = BUILDERS[options.get("builder") or "engine"](self, ref, labels)
        if error:
            step = failed_step(log)
            raise BuildError("The build of %s=%s (%s) failed at %s: %s. Its output: %s. Expected a Dockerfile that "
                             "builds (docker build shows the same)."
                             % (names["app_dir"], options["app_dir"], options["dockerfile"],
                                step[0] if step else "a step", error.strip(), " ".join(step[1:]) or "(none)"),
                             failed_step=step[:1], output=step[1:])
        actions.append("built %s" % ref)
        image = self.engine.inspect_image(ref)
        if image is None:
            raise BuildError("the engine reported a build but has no %s" % ref)
        return image

    def push(self, repository, tag, known_digest, actions):
        try:
            digest, layers = self.engine.push(repository, tag, self.auth)
        except EngineError as error:
            raise BuildError("%s=%s: %s" % (self.names["registry"], self.options["registry"], error))
        # A push counts when a layer went up, or when the registry (asked from here) named another manifest or
        # none; where it was not asked (minikube's engine pushes from its VM), only the layers tell.
        if layers or (self.registry is not None and digest != known_digest):
            actions.append("pushed %s:%s" % (repository, tag))
        return digest

    def apply(self, plan):
        """Do what plan found missing; returns (the plan brought up to date, the actions taken)."""
        options = self.options
        actions = self.actions
        repository = plan["repository"]
        if plan["base_missing"]:
            self.ensure_base()
            actions.append("got the base image %s" % options["base_image"])
            plan = self.plan()
        image = plan["built"]
        if not plan["content_in_place"]:
            if image is None:
                image = self.build(plan, actions)
            if options["push"]:
                self.push(repository, plan["content_tag"], plan["registry_digests"].get(plan["content_tag"]), actions)
        for tag in plan["tags_to_do"] if image is not None else ():
            if plan["engine_ids"].get(repository + ":" + tag) != image["Id"]:
                try:
                    self.engine.tag(image["Id"], repository, tag)
                except EngineError as error:
                    raise BuildError("tagging %s:%s failed: %s" % (repository, tag, error))
                actions.append("tagged %s:%s" % (repository, tag))
            if options["push"]:
                self.push(repository, tag, plan["registry_digests"].get(tag), actions)
        plan = dict(plan, built=image, content_in_place=True, tags_to_do=[], up_to_date=True)
        return plan, actions


def build_with_engine(builder, ref, labels):
    """The engine's own builder (POST /build, the classic builder, as `DOCKER_BUILDKIT=0 docker build`): the base image
    is not pulled; intermediate containers are removed, a failed step's too."""
    import json

    options = builder.options
    query = {"t": ref, "dockerfile": options["dockerfile"], "rm": "1", "forcerm": "1", "pull": "0",
             "buildargs": json.dumps(builder.build_args()), "labels": json.dumps(labels)}
    if options.get("build_network"):
        query["networkmode"] = options["build_network"]
    registry_config = None
    if options.get("registry_auth") and options.get("registry_username"):
        registry_config = {api_host(options["registry"]): {
            "username": options["registry_username"], "password": options["registry_password"]}}
    try:
        return builder.engine.build(builder.context.tar_stream(), query, registry_config)
    except EngineUnreachable as error:
        return "", "the engine stopped answering during the build (%s)" % error


BUILDERS = {"engine": build_with_engine}


def resolved(params):
    """The options with their defaults worked out: push when a registry is given, a login when a username is."""
    options = dict(params)
    if options.get("push") is None:
        options["push"] = bool(options.get("registry"))
    if options.get("registry_auth") is None:
        options["registry_auth"] = bool(options.get("registry_username"))
    return options


def would_do(plan, options):
    """What apply would do, one line each (check mode, state planned)."""
    repository, content = plan["repository"], plan["content_tag"]
    out = ["get the base image %s" % options["base_image"]] if plan["base_missing"] else []
    if not plan["content_in_place"]:
        if plan["built"] is None:
            out.append("build %s:%s" % (repository, content or "<content tag>"))
        if options["push"]:
            out.append("push %s:%s" % (repository, content or "<content tag>"))
    for tag in plan["tags_to_do"]:
        out.append(("tag and push %s:%s" if options["push"] else "tag %s:%s") % (repository, tag))
    return out


def diff_of(before, after):
    """Which image each tag names, before and after (a build to come shows as '(to be built)')."""
    def tags(plan, to_come=None):
        out = {}
        for tag in [plan["content_tag"]] + plan["extra_tags"]:
            if tag:
                ref = plan["repository"] + ":" + tag
                out[ref] = plan["engine_ids"].get(ref) or to_come
        return out

    if after is None:
        return {"before": tags(before), "after": dict((ref, (before["built"] or {}).get("Id") or "(to be built)")
                                                      for ref in tags(before))}
    return {"before": tags(before), "after": dict((ref, (after["built"] or {}).get("Id")) for ref in tags(before))}


def run(params, names, check_mode):
    """The module's whole run: a result dict, failed=True with msg when it fails."""
    options = resolved(params)
    problems = option_problems(options, names)
    if problems:
        return dict(changed=False, failed=True, msg=" ".join(problems), actions=[])
    builder = Builder(options, names)
    before = None
    try:
        before = builder.plan()
        if options["state"] == "planned" or check_mode or before["up_to_date"]:
            actions = would_do(before, options) if options["state"] == "present" else []
            result = result_of(before, options, actions)
            result.update(changed=bool(actions) and check_mode, diff=diff_of(before, None))
            return result
        after, actions = builder.apply(before)
        result = result_of(after, options, actions)
        result.update(changed=bool(actions), diff=diff_of(before, after))
        return result
    except BuildError as error:
        result = dict(failed=True, msg=str(error), **error.details)
    except EngineError as error:   # a request that failed where nothing else words it
        result = dict(failed=True, msg="the Docker engine at %s: %s" % (builder.settings.host, error))
    result.update(changed=bool(builder.actions), actions=list(builder.actions))
    return result


def result_of(plan, options, actions=None):
    """The module's result fields, and the facts the role publishes as they are."""
    named = plan["names"]
    content = plan["content_tag"]
    kind = options["ref_tag"]
    tag = ref_tag(kind, named, content)
    return {
        "image_repository": plan["repository"],
        "image_ref": "%s:%s" % (plan["repository"], tag) if tag else "",
        "image_tags": list(dict.fromkeys(t for t in (named["version"], content, named["commit_tag"]) if t)),
        "image_up_to_date": plan["up_to_date"],
        "image_pull_policy": pull_policy(options["push"], kind),
        "image_build_digest": plan["digest"],
        "content_tag": content,
        "image_id": (plan["built"] or {}).get("Id", ""),
        "tags_to_do": plan["tags_to_do"],
        "context": {"sha256": plan["app"]["sha256"], "files": plan["app"]["files"]},
        "commit": named["commit_tag"],
        "actions": actions or [],
    }
