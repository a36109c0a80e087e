"""rollout_preflight asks by default exactly the permissions docs/rbac/set_image-role.yml grants for the kind."""

import pathlib

import pytest
import yaml

from ansible_collections.kubedev.devloop.plugins.module_utils.access_review import permission_name
from ansible_collections.kubedev.devloop.plugins.module_utils.rollout_preflight import set_image_rules

ROLE = pathlib.Path(__file__).resolve().parents[4] / "docs" / "rbac" / "set_image-role.yml"


def permissions(rules, resources=None):
    """Every (rule, verb) as access_review names it, optionally only for some resources."""
    out = set()
    for rule in rules:
        for group in rule.get("apiGroups", [rule.get("group")]):
            for resource in rule.get("resources", [rule.get("resource")]):
                if resources is None or resource in resources:
                    out |= {permission_name({"verb": verb, "group": group, "resource": resource}) for verb in rule["verbs"]}
    return out


@pytest.mark.parametrize("kind, resources", [
    ("Deployment", {"deployments", "replicasets", "pods"}),
    ("DaemonSet", {"daemonsets", "controllerrevisions", "pods"}),
    ("StatefulSet", {"statefulsets", "pods"}),
])
def test_default_questions_are_the_documented_roles(kind, resources):
    documented = yaml.safe_load(ROLE.read_text())["rules"]
    asked = set_image_rules(kind)
    assert permissions(asked) == permissions(documented, resources)
    assert all(rule["name"] == "" and rule["subresource"] == "" and not rule["cluster_scoped"] for rule in asked)
