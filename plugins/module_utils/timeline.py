# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A short, deduplicated record of replica counts during a rollout (for the task result)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MAX_ENTRIES = 20


class Timeline(object):
    """Entries dict(t, updated, ready, available, total); t is seconds since the wait started.

    Only changes are recorded. Past max_entries the oldest entries after the first one are dropped:
    the start and the latest steps are what explain a rollout.
    """

    def __init__(self, max_entries=MAX_ENTRIES):
        self.max_entries = max(2, max_entries)
        self.entries = []
        self._last_counts = None

    def record(self, offset, counts):
        if counts == self._last_counts:
            return False
        self._last_counts = dict(counts)
        entry = {"t": round(max(offset, 0.0), 2)}
        entry.update(counts)
        self.entries.append(entry)
        if len(self.entries) > self.max_entries:
            del self.entries[1]
        return True

    def as_list(self):
        return [dict(e) for e in self.entries]
