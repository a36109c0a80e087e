"""Input checks that need no cluster: they run before anything is read or written."""

from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_runner import check_request


def params(**overrides):
    base = {"containers": {"web": "registry.example.com/app:1"}, "name": ["web"], "wait_timeout": 300,
            "crashloop_restarts": 2, "transient_failure_grace": 90}
    base.update(overrides)
    return base


def test_a_good_request_has_no_problems():
    assert check_request(params()) == []
    assert check_request(params(containers={"*": "app@sha256:" + "0" * 64})) == []


def test_every_problem_is_reported_at_once():
    problems = check_request(params(containers={"web": "App:1", "side": "", "init": 5}, wait_timeout=0,
                                    crashloop_restarts=-1, transient_failure_grace=-1, name=["web", ""]))
    assert problems == [
        "name must be a non-empty string, got ''",
        "wait_timeout must be a positive number of seconds, got 0",
        "crashloop_restarts must be 0 or more, got -1",
        "transient_failure_grace must be 0 or more seconds, got -1",
        "image for container 'init' must be a string, got 5",
        "container 'side': image reference is empty",
        "container 'web': repository name must be lowercase: 'App' in 'App:1'",
    ]


def test_negative_timeout_and_empty_containers():
    assert check_request(params(wait_timeout=-5, containers={})) == [
        "wait_timeout must be a positive number of seconds, got -5",
        "containers must map at least one container name (or '*') to an image",
    ]


def test_which_failed_writes_may_have_landed():
    from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import Action, ApiError, ApiUnreachable
    from ansible_collections.kubedev.devloop.plugins.module_utils.set_image_runner import answer_may_be_lost

    action = Action("patch", "deployments", "apps", "ns", "web")
    for status in (400, 403, 404, 409, 422, 429):
        assert not answer_may_be_lost(ApiError(status, {"message": "no"}, action)), status
    for status in (500, 502, 503, 504):
        assert answer_may_be_lost(ApiError(status, {"message": "gateway"}, action)), status
    assert answer_may_be_lost(ApiUnreachable("read timed out"))
    assert answer_may_be_lost(ValueError("Expecting value: line 1 column 1 (char 0)"))
