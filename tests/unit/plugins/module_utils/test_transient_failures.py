"""Which waiting reasons heal by themselves: the kubelet's and containerd's own messages, as they read."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.transient_failures import (
    PERMANENT,
    TRANSIENT,
    permanence,
)

NOT_FOUND = ('failed to pull and unpack image "127.0.0.1:5000/app:nope": failed to resolve reference '
             '"127.0.0.1:5000/app:nope": 127.0.0.1:5000/app:nope: not found')
REFUSED = ('failed to pull and unpack image "127.0.0.1:5002/app:1": failed to resolve reference "127.0.0.1:5002/app:1": '
           'failed to do request: Head "http://127.0.0.1:5002/v2/app/manifests/1": dial tcp 127.0.0.1:5002: '
           'connect: connection refused')


@pytest.mark.parametrize("reason,message", [
    ("ErrImagePull", NOT_FOUND),
    ("ImagePullBackOff", 'Back-off pulling image "127.0.0.1:5000/app:nope": ErrImagePull: ' + NOT_FOUND),
    ("ErrImagePull", 'failed to pull image "registry.invalid/app:3": dial tcp: lookup registry.invalid: no such host'),
    ("ErrImagePull", "failed to resolve reference: unexpected status from HEAD request: 401 Unauthorized"),
    ("ErrImagePull", "pull access denied, repository does not exist or may require authorization: "
                     "server message: insufficient_scope: authorization failed"),
    ("ErrImagePull", "failed to resolve reference: docker.io/x/y:1: manifest unknown"),
    ("InvalidImageName", 'Failed to apply default image tag "App:1": couldn\'t parse image name: invalid reference format'),
    ("ErrImageNeverPull", "Container image is not present with pull policy of Never"),
    ("CreateContainerConfigError", "container has runAsNonRoot and image will run as root"),
    ("CreateContainerError", "failed to create containerd container: error unpacking image"),
])
def test_what_cannot_heal(reason, message):
    assert permanence(reason, message) == PERMANENT


@pytest.mark.parametrize("reason,message", [
    ("ErrImagePull", REFUSED),
    ("ImagePullBackOff", 'Back-off pulling image "127.0.0.1:5002/app:1": ErrImagePull: ' + REFUSED),
    ("ErrImagePull", "failed to do request: Head: unexpected status from HEAD request: 503 Service Unavailable"),
    ("ErrImagePull", "unexpected status code 429 Too Many Requests: toomanyrequests: rate limit"),
    ("ErrImagePull", "dial tcp: lookup registry.example on 10.0.0.10:53: read udp: i/o timeout"),
    ("ErrImagePull", "rpc error: code = DeadlineExceeded desc = context deadline exceeded"),
    ("ErrImagePull", "failed to copy: read tcp 10.0.0.2:4444->10.0.0.3:443: read: connection reset by peer"),
    ("ImagePullBackOff", 'Back-off pulling image "registry.example/app:1"'),   # says nothing yet: the next try will
    ("CreateContainerConfigError", 'configmap "settings" not found'),
    ("CreateContainerConfigError", 'secret "db" not found'),
    ("CreateContainerConfigError", "couldn't find key LEVEL in ConfigMap team/settings"),
    ("CreateContainerError", "context deadline exceeded"),
])
def test_what_can_heal(reason, message):
    assert permanence(reason, message) == TRANSIENT


def test_permanent_wins_when_both_are_mentioned():
    assert permanence("ErrImagePull", "503 Service Unavailable, then: manifest unknown") == PERMANENT
