# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Container image reference validation after the distribution reference grammar.

We check references before writing anything, so a typo never starts a rollout that can only fail
(the kubelet would report InvalidImageName minutes later, per pod).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Grammar pieces (github.com/distribution/reference, docs only; written from the grammar):
#   name      := [domain '/'] path-component ('/' path-component)*
#   domain    := host [':' port]           host := domain-name | IPv4 | '[' IPv6 ']'
#   path-comp := [a-z0-9]+ (separator [a-z0-9]+)*    separator := [_.] | '__' | '-'+
#   tag       := [\w][\w.-]{0,127}
#   digest    := algorithm ':' hex
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[_.]|__|-+)"
_PATH_COMPONENT = re.compile(r"^" + _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    r"^(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
    r"|\[[a-fA-F0-9:]+\])"
    r"(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$")
# Algorithms the container runtimes accept, with their exact (lowercase) hex length.
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_TOTAL_LENGTH_MAX = 255


class ImageReferenceError(ValueError):
    """The string is not a valid image reference; str() says what is wrong."""


def _split_domain(name):
    """Return (domain or None, remainder) the way docker decides what the first component is."""
    first, sep, rest = name.partition("/")
    if not sep:
        return None, name
    # A first component is a registry host when it looks like one: has a dot or a port, is
    # localhost, or has uppercase letters (which a repository path never has).
    if "." in first or ":" in first or first == "localhost" or first.lower() != first:
        return first, rest
    return None, name


def parse_image_reference(reference):
    """Split a valid reference into a dict(domain, path, tag, digest); raise ImageReferenceError."""
    if not isinstance(reference, str) or reference == "":
        raise ImageReferenceError("image reference is empty")
    if reference != reference.strip() or any(c.isspace() for c in reference):
        raise ImageReferenceError("image reference %r contains whitespace" % reference)

    name, digest = reference, None
    if "@" in reference:
        name, digest = reference.split("@", 1)
        match = _DIGEST.match(digest)
        if not match:
            raise ImageReferenceError("invalid digest %r in %r (expected algorithm:hex)" % (digest, reference))
        algorithm, hex_part = match.groups()
        want = _DIGEST_HEX_LENGTH.get(algorithm)
        if want is None:
            raise ImageReferenceError("unsupported digest algorithm %r in %r" % (algorithm, reference))
        if len(hex_part) != want or hex_part.lower() != hex_part:
            raise ImageReferenceError(
                "invalid %s digest in %r (expected %d lowercase hex characters)" % (algorithm, reference, want))

    tag = None
    # A ':' after the last '/' separates the tag; one before it belongs to a registry port.
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise ImageReferenceError(
                "invalid tag %r in %r (allowed: letters, digits, '_', '.', '-'; "
                "not starting with '.' or '-'; at most 128 characters)" % (tag, reference))

    if name == "":
        raise ImageReferenceError("image reference %r has no repository name" % reference)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ImageReferenceError("repository name in %r is longer than %d characters" % (reference, NAME_TOTAL_LENGTH_MAX))

    domain, path = _split_domain(name)
    if domain is not None and not _DOMAIN.match(domain):
        raise ImageReferenceError("invalid registry host %r in %r" % (domain, reference))
    for component in path.split("/"):
        if not _PATH_COMPONENT.match(component):
            if component.lower() != component:
                raise ImageReferenceError(
                    "repository name must be lowercase: %r in %r" % (component, reference))
            raise ImageReferenceError(
                "invalid repository path component %r in %r (lowercase letters and digits, "
                "separated by '.', '_', '__' or '-')" % (component, reference))
    return {"domain": domain, "path": path, "tag": tag, "digest": digest}


def validate_image_reference(reference):
    """Return None when valid, else the error message."""
    try:
        parse_image_reference(reference)
    except ImageReferenceError as exc:
        return str(exc)
    return None
