"""meta/argument_specs.yml documents every role variable with its default; defaults/main.yml is what the
role really uses. The two must not drift apart: every default is documented, every documented default
is the real one (Ansible's role argument validation checks types, but never applies a spec's default)."""

import pathlib
import shutil

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES = sorted(path.parent.parent for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
MISSING = "<not set>"


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def drift(role_dir):
    """Sentences naming every variable whose default differs between the two files, or is only in one."""
    defaults = load(role_dir / "defaults" / "main.yml")
    problems = []
    for entry, spec in load(role_dir / "meta" / "argument_specs.yml")["argument_specs"].items():
        options = spec.get("options") or {}
        for name in sorted(set(defaults) | set(options)):
            if name not in options:
                problems.append(f"{entry}: {name} is in defaults/main.yml but not in the argument spec")
                continue
            documented, real = options[name].get("default", MISSING), defaults.get(name, MISSING)
            if documented != real and not (real == MISSING and options[name].get("required")):
                problems.append(f"{entry}: {name} defaults to {real!r}, the argument spec says {documented!r}")
    return problems


def test_every_role_is_checked():
    assert [role.name for role in ROLES] == ["deploy", "image", "minikube", "tools"]


@pytest.mark.parametrize("role_dir", ROLES, ids=[role.name for role in ROLES])
def test_argument_spec_defaults_are_the_role_defaults(role_dir):
    assert drift(role_dir) == []


def test_drift_is_noticed(tmp_path):
    """The check itself: a changed default, an undocumented variable and a default only in the spec."""
    role = tmp_path / "deploy"
    shutil.copytree(ROOT / "roles" / "deploy", role)
    defaults = load(role / "defaults" / "main.yml")
    defaults["deploy_replicas"] = 5
    defaults["deploy_undocumented"] = "x"
    del defaults["deploy_wait_timeout"]
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
    assert drift(role) == [
        "main: deploy_replicas defaults to 5, the argument spec says 2",
        "main: deploy_undocumented is in defaults/main.yml but not in the argument spec",
        "main: deploy_wait_timeout defaults to '<not set>', the argument spec says 300",
    ]


def variables_drift(role_dir):
    """Names in the argument spec but not in vars/main.yml's <role>__variables (which words messages), or the reverse."""
    listed = set(load(role_dir / "vars" / "main.yml")[f"{role_dir.name}__variables"])
    options = set(load(role_dir / "meta" / "argument_specs.yml")["argument_specs"]["main"].get("options") or {})
    return sorted(f"{name} only in the argument spec" for name in options - listed) + sorted(
        f"{name} only in {role_dir.name}__variables" for name in listed - options)


@pytest.mark.parametrize("role_dir", ROLES, ids=[role.name for role in ROLES])
def test_message_names_cover_every_variable(role_dir):
    assert variables_drift(role_dir) == []


def test_variables_drift_is_noticed(tmp_path):
    role = tmp_path / "image"
    shutil.copytree(ROOT / "roles" / "image", role)
    role_vars = load(role / "vars" / "main.yml")
    role_vars["image__variables"] = [name for name in role_vars["image__variables"] if name != "image_push"] + ["image_gone"]
    (role / "vars" / "main.yml").write_text(yaml.safe_dump(role_vars))
    assert variables_drift(role) == ["image_push only in the argument spec", "image_gone only in image__variables"]
