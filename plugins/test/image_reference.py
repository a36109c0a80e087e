# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja test: is the value a container image reference? The grammar set_image checks (image_ref.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils.image_ref import validate_image_reference


def image_reference(value):
    return validate_image_reference(value) is None


class TestModule(object):
    def tests(self):
        return {"image_reference": image_reference}
