"""Shorthands of the tests for what resolve_connection gives one module run."""

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.client import KubeClient
from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.connection import Connection, resolve_connection


def connection_settings(params):
    return resolve_connection(params).settings


def default_namespace(params):
    return resolve_connection(params).namespace


def client_of(settings):
    return KubeClient(Connection(settings))
