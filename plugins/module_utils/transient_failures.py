# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Will a container's waiting reason heal by itself, or not?

The kubelet reports ErrImagePull / ImagePullBackOff for a tag that does not exist and for a registry
that is down for a moment alike, and CreateContainerConfigError for a ConfigMap that is missing for
good and for one that is created a few seconds later. The message tells them apart. Pure functions
over (reason, message); the waiter gives transient ones a bounded grace before it fails the rollout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PERMANENT = "permanent"
TRANSIENT = "transient"

PULL_REASONS = frozenset(["ErrImagePull", "ImagePullBackOff"])
ALWAYS_PERMANENT = frozenset(["InvalidImageName", "ErrImageNeverPull"])

# Substrings of pull errors (containerd / CRI-O / the kubelet), lowercased. Checked first: what cannot heal.
PULL_PERMANENT = (
    "not found",                # containerd: "<ref>: not found"; "404 not found"
    "manifest unknown",
    "name unknown",
    "unauthorized",             # 401
    "authentication required",
    "authorization failed",
    "access denied",            # "pull access denied, repository does not exist or may require authorization"
    "insufficient_scope",
    "403 forbidden",
    "denied:",
    "invalid reference format",
    "no such host",             # the registry's name does not resolve (NXDOMAIN)
    "no match for platform",
    "signature",                # image verification refused it
)
# What can heal: the registry or the network is briefly unavailable or overloaded.
PULL_TRANSIENT = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "i/o timeout",
    "timeout",
    "deadline exceeded",
    "temporary failure in name resolution",
    "server misbehaving",
    "network is unreachable",
    "no route to host",
    "eof",
    "429",
    "too many requests",
    "toomanyrequests",
    "500 internal server error",
    "502 bad gateway",
    "503 service unavailable",
    "504 gateway timeout",
)
# CreateContainerConfigError: a referenced ConfigMap, Secret or key that may still be created.
CONFIG_TRANSIENT = (
    "not found",                # configmap "x" not found, secret "x" not found
    "couldn't find key",
)
# CreateContainerError: the runtime was slow or busy, not the pod spec wrong.
CREATE_TRANSIENT = (
    "deadline exceeded",
    "failed to reserve container name",
)


def _mentions(message, needles):
    text = (message or "").lower()
    return any(needle in text for needle in needles)


def permanence(reason, message):
    """PERMANENT or TRANSIENT for a container waiting with `reason` and the kubelet's `message`.

    Pull errors the message does not explain (an ImagePullBackOff whose message only says
    "Back-off pulling image") count as transient: the kubelet's next attempt says more, and the
    grace bounds the wait either way.
    """
    if reason in ALWAYS_PERMANENT:
        return PERMANENT
    if reason in PULL_REASONS:
        if _mentions(message, PULL_PERMANENT):
            return PERMANENT
        return TRANSIENT
    if reason == "CreateContainerConfigError":
        return TRANSIENT if _mentions(message, CONFIG_TRANSIENT) else PERMANENT
    if reason == "CreateContainerError":
        return TRANSIENT if _mentions(message, CREATE_TRANSIENT) else PERMANENT
    return PERMANENT
