# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja filter: what is wrong with an image reference, '' when nothing (image_ref.py's grammar)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubedev.devloop.plugins.module_utils.image_ref import validate_image_reference


def image_reference_problem(value):
    return validate_image_reference(value) or ""


class FilterModule(object):
    def filters(self):
        return {"image_reference_problem": image_reference_problem}
