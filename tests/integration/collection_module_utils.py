"""The collection's module_utils for integration tests that call them directly instead of through a module."""

import importlib
import sys

import pytest

from test_set_image_support import repo_path


def import_module_utils(*names):
    """The modules plugins/module_utils/<name>.py (name may be dotted: "_k8s.client"), importable from a checkout
    (scripts/setup links collections/)."""
    collections = repo_path("collections")
    if not (collections / "ansible_collections" / "kubedev" / "devloop").exists():
        pytest.fail("collections/ansible_collections/kubedev/devloop missing: run scripts/setup")
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))
    return tuple(importlib.import_module("ansible_collections.kubedev.devloop.plugins.module_utils." + name)
                 for name in names)


def client_of_kubeconfig(path):
    """The modules' API client for a kubeconfig, resolved as a module run resolves it."""
    client, connection = import_module_utils("_k8s.client", "_k8s.connection")
    return client.KubeClient(connection.resolve_connection({"kubeconfig": path}))
