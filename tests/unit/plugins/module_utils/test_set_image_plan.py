"""Which containers change, and the patch that changes them."""

from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_plan import (
    build_patch,
    current_images,
    flat_changes,
    holds_changes,
    plan_images,
    plan_rollback,
)

# The recorded Deployment has initContainers [migrate] and containers [web, sidecar].
OLD = "127.0.0.1:5000/app:1"


def test_current_images_cover_init_containers(recorded):
    assert current_images(recorded("deployment_rollout", "spec_change_not_observed")) == {
        "migrate": OLD, "web": "127.0.0.1:5000/app:2", "sidecar": "127.0.0.1:5000/side:1"}


def test_named_container_changes(recorded):
    deployment = recorded("deployment_rollout", "spec_change_not_observed")
    plan = plan_images("Deployment", deployment, {"web": "app:3"})
    assert plan == {
        "previous": {"web": "127.0.0.1:5000/app:2"},
        "images": {"web": "app:3"},
        "changes": {"containers": {"web": "app:3"}},
        "error": None,
    }


def test_init_container_by_name(recorded):
    plan = plan_images("Deployment", recorded("deployment_rollout", "complete"), {"migrate": "app:3"})
    assert plan["changes"] == {"initContainers": {"migrate": "app:3"}}
    assert plan["previous"] == {"migrate": OLD}


def test_star_sets_every_container_and_init_container(recorded):
    plan = plan_images("Deployment", recorded("deployment_rollout", "complete"), {"*": "app:9"})
    assert plan["changes"] == {"containers": {"web": "app:9", "sidecar": "app:9"}, "initContainers": {"migrate": "app:9"}}
    assert sorted(plan["previous"]) == ["migrate", "sidecar", "web"]


def test_explicit_name_wins_over_star(recorded):
    plan = plan_images("Deployment", recorded("deployment_rollout", "complete"), {"*": "app:9", "sidecar": "side:9"})
    assert plan["images"] == {"migrate": "app:9", "web": "app:9", "sidecar": "side:9"}


def test_no_op_when_images_are_already_set(recorded):
    deployment = recorded("deployment_rollout", "complete")
    plan = plan_images("Deployment", deployment, {"web": "127.0.0.1:5000/app:2", "migrate": OLD})
    assert plan["changes"] == {}
    assert plan["previous"] == plan["images"]


def test_unknown_container_lists_the_existing_ones(recorded):
    plan = plan_images("Deployment", recorded("deployment_rollout", "complete"), {"web": "a:1", "nope": "a:1", "db": "a:1"})
    assert plan["changes"] == {}
    assert plan["error"] == ("Deployment cap-dep/web has no container named 'db', 'nope' "
                             "(containers: web, sidecar; initContainers: migrate)")


def test_patch_merges_containers_by_name_with_a_resource_version_precondition():
    patch = build_patch({"containers": {"web": "app:3", "a": "x:1"}, "initContainers": {"migrate": "m:1"}},
                        resource_version="1234", annotations={"kubernetes.io/change-cause": "release 3"})
    assert patch == {
        "metadata": {"resourceVersion": "1234", "annotations": {"kubernetes.io/change-cause": "release 3"}},
        "spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "x:1"}, {"name": "web", "image": "app:3"}],
            "initContainers": [{"name": "migrate", "image": "m:1"}],
        }}},
    }


def test_patch_can_remove_an_annotation():
    patch = build_patch({"containers": {"web": "a:1"}}, annotations={"kubernetes.io/change-cause": None})
    assert patch["metadata"] == {"annotations": {"kubernetes.io/change-cause": None}}


def test_flat_changes():
    assert flat_changes({"containers": {"web": "a"}, "initContainers": {"m": "b"}}) == {"web": "a", "m": "b"}


def test_rollback_restores_only_what_we_set_and_is_still_there(recorded):
    deployment = recorded("deployment_rollout", "complete")   # web runs app:2, sidecar side:1
    previous = {"web": "app:1", "sidecar": "side:0", "migrate": OLD}
    applied = {"web": "127.0.0.1:5000/app:2", "sidecar": "side:new"}  # someone changed sidecar since
    changes, skipped = plan_rollback(deployment, previous, applied)
    assert changes == {"containers": {"web": "app:1"}}
    assert skipped == ["sidecar"]


def test_holds_changes_asks_every_container_of_every_list(recorded):
    deployment = recorded("deployment_rollout", "spec_change_not_observed")
    assert holds_changes(deployment, {"containers": {"web": "127.0.0.1:5000/app:2"}, "initContainers": {"migrate": OLD}})
    assert not holds_changes(deployment, {"containers": {"web": "127.0.0.1:5000/app:2"},
                                          "initContainers": {"migrate": "app:3"}})
    assert not holds_changes(deployment, {"containers": {"gone": OLD}})
    assert holds_changes(deployment, {})
