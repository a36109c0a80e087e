"""How access_review names a permission, and which rules it refuses before asking anything."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.access_review import permission_name, rule_problems


@pytest.mark.parametrize("attributes, name", [
    ({"verb": "patch", "group": "apps", "resource": "deployments"}, "patch deployments.apps"),
    ({"verb": "list", "group": "", "resource": "pods"}, "list pods"),
    ({"verb": "get", "group": "", "resource": "pods", "subresource": "log"}, "get pods/log"),
    ({"verb": "update", "group": "apps", "resource": "deployments", "subresource": "scale"}, "update deployments.apps/scale"),
])
def test_permission_names_read_like_rbac_rules(attributes, name):
    assert permission_name(attributes) == name


def rule(resource="pods", verbs=("list",)):
    return {"group": "", "resource": resource, "subresource": "", "name": "", "verbs": list(verbs), "cluster_scoped": False}


def test_complete_rules_pass():
    assert rule_problems([rule(), rule("deployments", ["get", "patch"])]) == []


def test_empty_resource_and_verbs_are_named_by_position():
    assert rule_problems([rule(), rule(" ", ["get"]), rule("pods", ["get", " "])]) == [
        "rules[1].resource is empty: expected a resource such as deployments",
        "rules[2].verbs is empty or has an empty verb: expected verbs such as [get, patch]",
    ]
