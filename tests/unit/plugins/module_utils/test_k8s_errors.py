"""API errors become messages that say what is missing or unreachable."""

import json

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import (
    Action,
    ApiError,
    describe_unreachable,
    parse_body,
)

# The Status body kube-apiserver returns when RBAC denies a patch.
FORBIDDEN = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'deployments.apps "web" is forbidden: User "system:serviceaccount:t1:deployer" cannot patch '
               'resource "deployments" in API group "apps" in the namespace "t1"',
    "reason": "Forbidden", "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 403,
}


def test_forbidden_names_user_verb_resource_group_namespace():
    error = ApiError(403, FORBIDDEN, Action("patch", "deployments", "apps", "t1", "web"))
    message = str(error)
    assert message.startswith("403 Forbidden: system:serviceaccount:t1:deployer may not patch deployments "
                              "(API group apps) in namespace t1.")
    assert "Grant the verb 'patch' on resource 'deployments'" in message
    assert "docs/rbac/set_image-role.yml" in message
    assert error.reason == "Forbidden"


def test_forbidden_for_core_group_cluster_scope():
    body = dict(FORBIDDEN, message='pods is forbidden: User "bob" cannot watch resource "pods" in API group ""')
    message = str(ApiError(403, body, Action("watch", "pods")))
    assert "bob may not watch pods (API group core) in namespace (cluster scope)" in message


def test_forbidden_without_a_parsable_message_uses_what_we_tried():
    message = str(ApiError(403, {"message": "denied by webhook"}, Action("patch", "statefulsets", "apps", "ns1")))
    assert "may not patch statefulsets (API group apps) in namespace ns1" in message
    assert "denied by webhook" in message


def test_unauthorized_names_the_host():
    action = Action("get", "deployments", "apps", "default", "web", host="https://127.0.0.1:16443")
    message = str(ApiError(401, {"message": "Unauthorized", "code": 401}, action))
    assert message.startswith("401 Unauthorized: the API server at https://127.0.0.1:16443 rejected our credentials")
    assert "get deployments.apps 'web' in namespace 'default'" in message


def test_other_statuses_keep_the_server_message():
    message = str(ApiError(422, {"message": "spec.template.spec.containers[0].image: Required value"},
                           Action("patch", "deployments", "apps", "d", "web")))
    assert message.startswith("422 Invalid: the API server rejected the change (patch deployments.apps 'web'")
    assert message.endswith("Required value")
    assert str(ApiError(503, parse_body(b"upstream down"), Action("list", "pods"))) == "503 error: list pods: upstream down"


def test_parse_body_keeps_json_and_text():
    assert parse_body(json.dumps(FORBIDDEN).encode()) == FORBIDDEN
    assert parse_body(b"<html>") == "<html>"
    assert parse_body(b"[1, 2]") == "[1, 2]"


class _Reason(Exception):
    pass


class NewConnectionError(Exception):
    pass


class SSLError(Exception):
    pass


class _Wrapped(Exception):
    def __init__(self, reason):
        super().__init__("max retries")
        self.reason = reason


def test_unreachable_messages_name_the_host_and_the_cause():
    host = "https://127.0.0.1:1"
    refused = describe_unreachable(host, _Wrapped(NewConnectionError("[Errno 111] Connection refused")))
    assert refused.startswith("the Kubernetes API at https://127.0.0.1:1 is unreachable: connection refused")
    tls = describe_unreachable(host, _Wrapped(SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")))
    assert tls.startswith("TLS error talking to the Kubernetes API at https://127.0.0.1:1: ")
    assert "validate_certs" in tls
    dns = describe_unreachable(host, _Reason("Failed to resolve 'nohost' ([Errno -2] Name or service not known)"))
    assert dns == "the Kubernetes API at https://127.0.0.1:1 is unreachable: the host name does not resolve (Name or service not known)"
