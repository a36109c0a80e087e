"""Image references: what the distribution grammar accepts and what it rejects."""

import pytest

from ansible_collections.kubedev.devloop.plugins.module_utils.image_ref import (
    parse_image_reference,
    validate_image_reference,
)

SHA256 = "sha256:" + "a" * 64

VALID = [
    ("nginx", {"domain": None, "path": "nginx", "tag": None, "digest": None}),
    ("nginx:1.27", {"domain": None, "path": "nginx", "tag": "1.27", "digest": None}),
    ("library/nginx:Latest_1.2-rc", {"domain": None, "path": "library/nginx", "tag": "Latest_1.2-rc", "digest": None}),
    ("127.0.0.1:5000/app:1", {"domain": "127.0.0.1:5000", "path": "app", "tag": "1", "digest": None}),
    ("localhost/app", {"domain": "localhost", "path": "app", "tag": None, "digest": None}),
    ("localhost:5000/team/app", {"domain": "localhost:5000", "path": "team/app", "tag": None, "digest": None}),
    ("registry.invalid/app:3", {"domain": "registry.invalid", "path": "app", "tag": "3", "digest": None}),
    ("[::1]:5000/app:v2", {"domain": "[::1]:5000", "path": "app", "tag": "v2", "digest": None}),
    ("Registry.Example.com/app", {"domain": "Registry.Example.com", "path": "app", "tag": None, "digest": None}),
    ("ghcr.io/org/my_app__x.y-z---w:tag", {"domain": "ghcr.io", "path": "org/my_app__x.y-z---w", "tag": "tag", "digest": None}),
    ("app@" + SHA256, {"domain": None, "path": "app", "tag": None, "digest": SHA256}),
    ("reg.io/app:1.0@" + SHA256, {"domain": "reg.io", "path": "app", "tag": "1.0", "digest": SHA256}),
    ("app:" + "t" * 128, {"domain": None, "path": "app", "tag": "t" * 128, "digest": None}),
    ("registry:5000", {"domain": None, "path": "registry", "tag": "5000", "digest": None}),
]

INVALID = [
    ("", "empty"),
    (" nginx", "whitespace"),
    ("nginx ", "whitespace"),
    ("ngi nx:1", "whitespace"),
    ("Nginx", "lowercase"),
    ("library/Nginx:1", "lowercase"),
    ("reg.io/Team/app", "lowercase"),
    ("app:", "invalid tag"),
    ("app:.hidden", "invalid tag"),
    ("app:-dash", "invalid tag"),
    ("app:" + "t" * 129, "invalid tag"),
    ("app:tag!", "invalid tag"),
    ("app@sha256:abc", "invalid digest"),
    ("app@sha256:" + "A" * 64, "sha256 digest"),
    ("app@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("app@" + "a" * 64, "invalid digest"),
    ("-app", "invalid repository path component"),
    ("app-", "invalid repository path component"),
    ("reg.io//app", "invalid repository path component"),
    ("reg.io/app/", "invalid repository path component"),
    ("a..b", "invalid repository path component"),
    ("a___b", "invalid repository path component"),
    ("-reg.io/app", "invalid registry host"),
    ("reg-.io/app", "invalid registry host"),
    (":5000/app", "invalid registry host"),
    ("@" + SHA256, "no repository name"),
    (":tag", "no repository name"),
    ("x" * 256, "longer than 255"),
]


@pytest.mark.parametrize("reference,parts", VALID)
def test_valid_references_parse_into_their_parts(reference, parts):
    assert parse_image_reference(reference) == parts
    assert validate_image_reference(reference) is None


@pytest.mark.parametrize("reference,expected", INVALID)
def test_invalid_references_say_what_is_wrong(reference, expected):
    message = validate_image_reference(reference)
    assert message is not None
    assert expected in message


def test_non_string_is_rejected():
    assert "empty" in validate_image_reference(None)
