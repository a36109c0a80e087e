# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One list+watch of a collection in a background thread, resumed across expiry and disconnects.

The thread lists once, then watches from the list's resourceVersion. When the server ends a watch
it continues from the last resourceVersion it saw; when the version is too old (410 Gone) it lists
again; when the connection drops (API server restart) it reconnects with capped exponential
backoff. Everything it learns goes to `sink(key, event, payload)`:

  SYNC          list of all current objects (after every list)
  ADDED / MODIFIED / DELETED   one object
  DISCONNECTED  message; the thread keeps reconnecting on its own
  FATAL         KubeError; retrying cannot help (e.g. 403), the thread ends
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import threading
import time

from ansible_collections.kubedev.devloop.plugins.module_utils._k8s.errors import ApiError

WATCH_WINDOW = 60       # seconds the server keeps one watch request open
READ_SLACK = 15         # client read timeout beyond that, to notice a silently dead connection
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 2.0
AUTH_RETRIES_AFTER_SUCCESS = 5   # a restarting API server can deny requests until its caches sync


class WatchExpired(Exception):
    """The resourceVersion we watch from is gone (410); list again."""


def iter_lines(resp):
    """Lines of a chunked HTTP response as they arrive (watch events are newline-delimited).
    A chunk often holds many events: it is split once, not copied once per line."""
    pending = b""
    for chunk in resp.stream(None, decode_content=False):
        if b"\n" not in chunk:
            pending += chunk
            continue
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


# How the API server starts the events a prefilter may spare (metav1.WatchEvent: "type" comes first).
_SPARABLE = (b'{"type":"ADDED"', b'{"type":"MODIFIED"')


class WatchStream(threading.Thread):
    """The objects of one resource (resources.py) in one namespace, narrowed by the selectors.

    prefilter (optional) spares decoding ADDED/MODIFIED events its user does not need: prefilter.listed(items)
    sees every list, prefilter.wants(line) each such event's raw JSON line. A spared event does not advance
    the resourceVersion a resumed watch starts from, so it may come again then, never get lost.
    """

    def __init__(self, client, resource, namespace, key, sink, label_selector=None, field_selector=None,
                 prefilter=None):
        super(WatchStream, self).__init__(name="watch-%s" % (key,))
        self.daemon = True  # never keeps the module process alive
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.key = key
        self.sink = sink
        self.selectors = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None}
        self.prefilter = prefilter
        self._stop_event = threading.Event()
        self._response = None
        self._listed_once = False
        self._auth_failures = 0

    def stop(self):
        self._stop_event.set()
        resp = self._response
        if resp is not None and hasattr(resp, "shutdown"):
            try:
                resp.shutdown()  # unblocks the reading thread (urllib3 >= 2.3)
            except Exception:
                pass

    @property
    def stopped(self):
        return self._stop_event.is_set()

    def run(self):
        resource_version = None
        delay = BACKOFF_FIRST
        while not self.stopped:
            started = time.monotonic()
            delivered = False
            try:
                if resource_version is None:
                    resource_version = self._list()
                resource_version, delivered = self._watch(resource_version)
                delay = BACKOFF_FIRST
                if delivered or time.monotonic() - started > 1:
                    continue
                # An empty, instant end of stream: do not hammer a server that closes at once.
            except WatchExpired:
                resource_version = None
                continue
            except ApiError as exc:
                if self.stopped:
                    return
                if exc.status == 410:
                    resource_version = None
                    continue
                if exc.status in (401, 403, 404) and not self._may_retry_auth():
                    self.sink(self.key, "FATAL", exc)
                    return
                self.sink(self.key, "DISCONNECTED", str(exc))
            except Exception as exc:  # a dropped connection surfaces as many types (urllib3, OSError, JSON)
                if self.stopped:
                    return
                self.sink(self.key, "DISCONNECTED", "%s: %s" % (type(exc).__name__, exc))
            self._stop_event.wait(delay * (0.75 + random.random() / 2))
            delay = min(delay * 2, BACKOFF_MAX)

    def _may_retry_auth(self):
        if not self._listed_once:
            return False
        self._auth_failures += 1
        return self._auth_failures <= AUTH_RETRIES_AFTER_SUCCESS

    def _list(self):
        listing = self.client.request("GET", self.resource.path(self.namespace),
                                      self.resource.action("list", self.namespace), query=self.selectors)
        self._listed_once = True
        self._auth_failures = 0
        if self.prefilter is not None:
            self.prefilter.listed(listing.get("items") or [])
        self.sink(self.key, "SYNC", listing.get("items") or [])
        return (listing.get("metadata") or {}).get("resourceVersion")

    def _watch(self, resource_version):
        """Watch until the server ends the request; returns (last resourceVersion, delivered?)."""
        action = self.resource.action("watch", self.namespace)
        query = dict(self.selectors, watch="true", resourceVersion=resource_version,
                     allowWatchBookmarks="true", timeoutSeconds=str(WATCH_WINDOW))
        resp = self.client.open_stream(self.resource.path(self.namespace), action, query,
                                       read_timeout=WATCH_WINDOW + READ_SLACK)
        self._response = resp
        delivered = False
        try:
            for line in iter_lines(resp):
                if self.stopped:
                    break
                if self.prefilter is not None and line.startswith(_SPARABLE) and not self.prefilter.wants(line):
                    delivered = True
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired()
                    raise ApiError(obj.get("code") or 500, obj, action)
                resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                if kind == "BOOKMARK":
                    continue
                delivered = True
                self.sink(self.key, kind, obj)
        finally:
            self._response = None
            # Close rather than reuse: after an interrupted stream the connection is mid-response.
            try:
                resp.close()
                resp.release_conn()
            except Exception:
                pass
        return resource_version, delivered
