# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every API resource the collection talks to, and how its URL paths are built: the one place that
knows API groups, versions and plural names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import quote

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import Action


class Resource(object):
    """One namespaced resource type of the API, for example deployments in apps/v1."""

    def __init__(self, group, version, plural):
        self.group = group          # "" is the core group
        self.version = version
        self.plural = plural

    @property
    def api_version(self):
        """As objects carry it: 'apps/v1', or 'v1' for the core group."""
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def path(self, namespace, name=None):
        """The URL path of the namespace's collection, or of one object. Names are checked before
        (names.py); quoting every segment as well means no value can ever add a segment or a query."""
        prefix = "/apis/" + self.api_version if self.group else "/api/" + self.version
        path = "%s/namespaces/%s/%s" % (prefix, quote(namespace, safe=""), self.plural)
        return path + "/" + quote(name, safe="") if name is not None else path

    def action(self, verb, namespace, name=None):
        """What a request does, for its error messages."""
        return Action(verb, self.plural, self.group, namespace, name)


DEPLOYMENTS = Resource("apps", "v1", "deployments")
STATEFULSETS = Resource("apps", "v1", "statefulsets")
DAEMONSETS = Resource("apps", "v1", "daemonsets")
REPLICASETS = Resource("apps", "v1", "replicasets")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions")
PODS = Resource("", "v1", "pods")

# The workload kinds the modules roll out.
WORKLOADS = {"Deployment": DEPLOYMENTS, "StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS}

# Cluster-scoped: the API answers a SelfSubjectAccessReview about the identity that posts it.
SELF_SUBJECT_ACCESS_REVIEWS_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
