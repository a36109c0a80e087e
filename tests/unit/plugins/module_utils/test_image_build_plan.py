"""The image builder's rules on plain data (module_utils/image_build_plan.py): the name and version taken from
package.json, the content tag, the commit tag, what of the image is in place, a failed build's step, and the
option checks the image role runs before anything changes. The last commit of an app directory is read from a real
git repository."""

import json
import os
import subprocess

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_plan import (
    TAG_MAX,
    content_tag,
    extra_tags,
    failed_step,
    image_names,
    in_place,
    option_problems,
    pull_policy,
)
from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_runner import OPTIONS, git_commit

NAMES = dict((option, option) for option in OPTIONS)


@pytest.mark.parametrize("package, name, version", [
    ({"name": "hello-k8s", "version": "0.0.1"}, "hello-k8s", "0.0.1"),
    # A scoped package's @ goes; a repository name is lower case.
    ({"name": "@Team/Web-App", "version": "1.0.0"}, "team/web-app", "1.0.0"),
    # A character a tag may not hold becomes "-"; a number is its text.
    ({"name": "x", "version": "1.0.0+build/7"}, "x", "1.0.0-build-7"),
    ({"name": "x", "version": 2}, "x", "2"),
    # Cut so that <version>-<12 hex> stays within Docker's 128 characters.
    ({"name": "x", "version": "v" + "1" * 150}, "x", "v" + "1" * (TAG_MAX - 14)),
    # Missing or null: nothing to name it after.
    ({"version": "1.0.0"}, "", "1.0.0"),
    ({"name": "x", "version": None}, "x", ""),
    (["not", "an", "object"], "", ""),
], ids=["plain", "scoped-upper", "odd-characters", "number", "long", "no-name", "null-version", "not-an-object"])
def test_the_image_is_named_after_package_json(package, name, version):
    named = image_names({}, package, "", False)
    assert (named["name"], named["version"]) == (name, version)
    if version:
        tag, _digest = content_tag(version, {"context": "x"})
        assert len(tag) <= TAG_MAX


def test_the_options_win_over_package_json_and_name_the_repository():
    named = image_names({"name": "web", "version": "2.0", "registry": "reg.example:5000/team"},
                        {"name": "pkg", "version": "1.0.0"}, "abc1234", True)
    assert named == {"name": "web", "version": "2.0", "commit_tag": "abc1234-dirty",
                     "repository": "reg.example:5000/team/web"}


def test_the_content_tag_is_the_digest_of_the_inputs_keys_sorted():
    tag, digest = content_tag("1.0", {"b": 1, "a": {"y": 2, "x": 1}})
    same, _ = content_tag("1.0", {"a": {"x": 1, "y": 2}, "b": 1})
    other, _ = content_tag("1.0", {"a": {"x": 1, "y": 3}, "b": 1})
    assert tag == same != other
    assert tag == "1.0-" + digest[:12] and len(digest) == 64


def test_what_is_in_place_in_the_engine_and_the_registry():
    repo = "reg:5000/web"
    built = {"Id": "sha256:new", "RepoDigests": [repo + "@sha256:pushed", "other/web@sha256:elsewhere"]}
    ids = {repo + ":1.0-c": "sha256:new", repo + ":1.0": "sha256:old", repo + ":abc": "sha256:new"}
    # Built into the engine, no push: the version tag names an older image.
    assert in_place(repo, "1.0-c", ["1.0", "abc"], ids, built, False, {}) == {
        "content_in_place": True, "tags_to_do": ["1.0"], "pushed": ["sha256:pushed"]}
    # Pushing: the registry's content tag names what the engine pushed, the commit tag names something else.
    decided = in_place(repo, "1.0-c", ["1.0", "abc"], ids, built, True,
                       {"1.0-c": "sha256:pushed", "1.0": "sha256:pushed", "abc": "sha256:stale"})
    assert decided["content_in_place"] is True and decided["tags_to_do"] == ["1.0", "abc"]
    # Not built: nothing is in place, every tag is to do.
    assert in_place(repo, "1.0-c", ["1.0"], {}, None, False, {}) == {
        "content_in_place": False, "tags_to_do": ["1.0"], "pushed": []}
    # The registry was not asked (minikube's engine pushes): the push decides.
    assert in_place(repo, "1.0-c", [], ids, built, True, {})["content_in_place"] is False


def test_extra_tags_and_pull_policy():
    assert extra_tags({"version": "1.0", "commit_tag": "abc"}, "1.0-c") == ["1.0", "abc"]
    assert extra_tags({"version": "1.0", "commit_tag": ""}, "1.0") == []
    assert pull_policy(True, "content") == pull_policy(False, "version") == "IfNotPresent"
    assert pull_policy(True, "commit") == "Always"


def test_a_failed_build_names_its_last_step_and_what_it_printed():
    log = ("Step 1/3 : FROM scratch\n ---> \nStep 2/3 : RUN ls /nope\n ---> Running in 1234\n"
           "\x1b[91mls: cannot access '/nope'\x1b[0m\nRemoving intermediate container 1234\n")
    assert failed_step(log) == ["Step 2/3 : RUN ls /nope", "ls: cannot access '/nope'"]


@pytest.mark.parametrize("options, words", [
    ({"push": True}, "push is true but registry is empty"),
    ({"registry": "https://127.0.0.1:5000"}, "registry='https://127.0.0.1:5000' is not host[:port][/path]"),
    ({"registry": "r:5000", "registry_username": "ann"}, "pushing there needs a login"),
    ({"name": "Hello_K8s"}, "name='Hello_K8s': expected lowercase path components"),
    ({"version": "1.0/beta"}, "version='1.0/beta' is not a Docker tag"),
    ({"version": "v" * (TAG_MAX - 12)}, "is not a Docker tag"),
    ({"base_image": "Node:Latest"}, "base_image='Node:Latest' is not an image reference"),
])
def test_bad_options_are_named(options, words):
    problems = option_problems(options, NAMES)
    assert len(problems) == 1 and words in problems[0], problems


def test_good_options_have_no_problems_and_the_password_is_never_quoted():
    assert option_problems({"registry": "127.0.0.1:5000/team", "name": "web", "version": "1.0",
                            "base_image": "node:22-bookworm-slim"}, NAMES) == []
    problems = option_problems({"registry": "r:5000", "registry_auth": True, "registry_password": "S3CRET"}, NAMES)
    assert problems and "S3CRET" not in " ".join(problems)


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_the_commit_is_the_last_one_touching_the_app_directory(tmp_path):
    repo = tmp_path / "repo"
    app = repo / "app"
    app.mkdir(parents=True)
    (app / "package.json").write_text(json.dumps({"name": "hello", "version": "1.2.3"}))
    (repo / "elsewhere.txt").write_text("x")
    git(repo, "init", "-q")
    git(repo, "add", "app")
    git(repo, "commit", "-q", "-m", "app")
    app_commit = git(repo, "rev-parse", "--short", "HEAD")
    git(repo, "add", "elsewhere.txt")
    git(repo, "commit", "-q", "-m", "not the app")
    assert git_commit(str(app)) == (app_commit, False)
    (app / "server.js").write_text("new")
    assert git_commit(str(app)) == (app_commit, True)
    assert git_commit(str(tmp_path)) == ("", False)
