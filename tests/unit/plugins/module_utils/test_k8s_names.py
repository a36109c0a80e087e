"""Names, namespaces and label selectors are checked before they can reach a URL."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.names import (
    label_selector_problem,
    namespace_problem,
    object_name_problem,
    split_selector,
)
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.resources import DEPLOYMENTS, PODS, WORKLOADS
from ansible_collections.kubedev.devloop.plugins.module_utils.targets import check_task_options, target_problems


@pytest.mark.parametrize("name", ["web", "web-1", "a", "web.v2", "0abc", "a" * 253])
def test_valid_object_names(name):
    assert object_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "Web", "../pods", "web?dryRun=All", "web/x", "-web", "web-", "we b",
                                  "web%2F", "a" * 254, None, 5])
def test_invalid_object_names(name):
    assert object_name_problem(name)


@pytest.mark.parametrize("namespace", ["default", "team-a", "a" * 63])
def test_valid_namespaces(namespace):
    assert namespace_problem(namespace) is None


@pytest.mark.parametrize("namespace", ["", "Team", "a.b", "../x", "a" * 64, "ns/", None])
def test_invalid_namespaces(namespace):
    assert namespace_problem(namespace)


@pytest.mark.parametrize("selector", ["", " ", "\t", ",", " , ", "app=web,", ",app=web", "app=web,,tier=x", None])
def test_selectors_that_select_by_nothing_are_refused(selector):
    assert label_selector_problem(selector)


@pytest.mark.parametrize("selector", ["app=web", "app", "!app", "tier in (front,back)", "app=web,tier notin (a, b)"])
def test_real_selectors_pass(selector):
    assert label_selector_problem(selector) is None


def test_commas_inside_parentheses_do_not_split():
    assert split_selector("tier in (a,b),app=web") == ["tier in (a,b)", "app=web"]


def test_empty_lists_and_bad_entries_are_all_reported():
    assert target_problems({"name": [], "namespace": "ok"}) == ["name is an empty list: name at least one workload"]
    assert target_problems({"label_selectors": []}) == [
        "label_selectors is an empty list: it would select every workload; give at least one selector"]
    assert target_problems({"label_selectors": ["app=web", " "], "namespace": "Bad"}) == [
        "label selector ' ' is empty: it would select every workload; name at least one label",
        "namespace 'Bad' is not a valid namespace name (lowercase letters, digits and '-', starting and ending with "
        "a letter or digit, at most 63 characters)",
    ]
    assert check_task_options({"name": ["web"], "wait_timeout": 0}) == [
        "wait_timeout must be a positive number of seconds, got 0"]


def test_resource_paths_quote_every_segment():
    assert DEPLOYMENTS.path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert DEPLOYMENTS.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert PODS.path("a/b", "x?y") == "/api/v1/namespaces/a%2Fb/pods/x%3Fy"


def test_workload_resources_name_their_api_version_and_group():
    assert sorted(WORKLOADS) == ["DaemonSet", "Deployment", "StatefulSet"]
    assert [WORKLOADS[kind].api_version for kind in sorted(WORKLOADS)] == ["apps/v1"] * 3
    assert PODS.api_version == "v1"
    assert DEPLOYMENTS.action("patch", "ns", "web").describe() == "patch deployments.apps 'web' in namespace 'ns'"
    assert PODS.action("list", "ns").describe() == "list pods in namespace 'ns'"