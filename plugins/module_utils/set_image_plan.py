# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which containers of a workload change to which image, and the patch that does it.

Pure functions over workload objects as the API returns them (camelCase JSON).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils.rollout import dig, object_ref

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
ALL_CONTAINERS = "*"
# Pod spec list -> how messages call its members. Containers and init containers share one
# name space in a pod (the API rejects duplicates), so one dict name -> image covers both.
CONTAINER_LISTS = (("containers", "containers"), ("initContainers", "initContainers"))


def pod_spec(obj):
    return dig(obj, "spec", "template", "spec", default={})


def current_images(obj):
    """dict(container name -> image) over containers and initContainers."""
    spec = pod_spec(obj)
    images = {}
    for key, _label in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            images[container["name"]] = container.get("image")
    return images


def unknown_containers_message(kind, obj, unknown):
    spec = pod_spec(obj)
    listing = "; ".join(
        "%s: %s" % (label, ", ".join(c["name"] for c in spec.get(key) or []) or "none")
        for key, label in CONTAINER_LISTS)
    return "%s has no container named %s (%s)" % (
        object_ref(kind, obj), ", ".join(repr(name) for name in sorted(unknown)), listing)


def plan_images(kind, obj, requested):
    """What setting `requested` (name or '*' -> image) on obj means.

    Returns dict(previous, images, changes, error): previous/images map each affected container to
    its current/requested image; changes maps pod-spec list key -> {name: image} for containers
    whose image differs; error is a message when a requested name does not exist.
    """
    spec = pod_spec(obj)
    existing = current_images(obj)
    wanted = {}
    if ALL_CONTAINERS in requested:
        wanted = dict.fromkeys(existing, requested[ALL_CONTAINERS])
    wanted.update((name, image) for name, image in requested.items() if name != ALL_CONTAINERS)

    unknown = [name for name in wanted if name not in existing]
    if unknown:
        return {"previous": {}, "images": {}, "changes": {}, "error": unknown_containers_message(kind, obj, unknown)}

    changes = {}
    for key, _label in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            name = container["name"]
            if name in wanted and container.get("image") != wanted[name]:
                changes.setdefault(key, {})[name] = wanted[name]
    return {
        "previous": dict((name, existing[name]) for name in wanted),
        "images": wanted,
        "changes": changes,
        "error": None,
    }


def plan_rollback(obj, previous, applied):
    """Changes that put `previous` images back, only where the image is still the one we set.

    A container someone else changed meanwhile is left alone: rolling back must not undo a
    concurrent edit. Returns (changes, skipped container names).
    """
    existing = current_images(obj)
    spec = pod_spec(obj)
    changes, skipped = {}, []
    for key, _label in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            name = container["name"]
            if name not in applied or applied[name] == previous.get(name):
                continue
            if existing.get(name) != applied[name]:
                skipped.append(name)
                continue
            changes.setdefault(key, {})[name] = previous[name]
    return changes, skipped


def build_patch(changes, resource_version=None, annotations=None):
    """A strategic merge patch that sets the images in `changes` (containers merge by name).

    resource_version makes the write conditional: the API server answers 409 Conflict when the
    object changed since we read it, so the images we report as "previous" (and would roll back
    to) are exactly the ones we replaced. annotations: name -> value (None removes it).
    """
    template_spec = {}
    for key, _label in CONTAINER_LISTS:
        if changes.get(key):
            template_spec[key] = [{"name": name, "image": image} for name, image in sorted(changes[key].items())]
    patch = {"spec": {"template": {"spec": template_spec}}}
    metadata = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if annotations:
        metadata["annotations"] = dict(annotations)
    if metadata:
        patch["metadata"] = metadata
    return patch


def holds_changes(obj, changes):
    """Whether obj's containers have every image of `changes` ({list key: {name: image}})."""
    spec = pod_spec(obj)
    for key, per_list in changes.items():
        images = dict((container["name"], container.get("image")) for container in spec.get(key) or [])
        if any(images.get(name) != image for name, image in per_list.items()):
            return False
    return True


def flat_changes(changes):
    """{list key: {name: image}} -> {name: image}."""
    flat = {}
    for per_list in changes.values():
        flat.update(per_list)
    return flat
