# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jinja filter: what is wrong with kubedev.devloop.image_build's options, before any engine is asked - the rules
the module itself applies (module_utils/image_build_plan.py), so a role can check them before anything changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: image_build_problems
short_description: What is wrong with the options of kubedev.devloop.image_build, before any engine is asked
version_added: 0.2.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Checks the registry address, the push and login settings, the image name, the version tag and the base image
    reference by the rules M(kubedev.devloop.image_build) applies, and returns one message per problem.
positional: names
options:
  _input:
    description: The module's options (C(registry), C(push), C(registry_auth), C(registry_username),
      C(registry_password), C(name), C(version), C(base_image)).
    type: dict
    required: true
  names:
    description: How the messages call each option (the variables a user set); options left out keep their names.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Fail on bad image options before anything changes
  ansible.builtin.fail:
    msg: "{{ problems | join(' ') }}"
  when: problems | length > 0
  vars:
    problems: "{{ {'registry': my_registry, 'name': my_name} | kubedev.devloop.image_build_problems({'registry': 'my_registry'}) }}"
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the options are fine.
  type: list
  elements: str
"""

from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_plan import option_problems

OPTIONS = ("registry", "push", "registry_auth", "registry_username", "registry_password", "name", "version",
           "base_image")


def image_build_problems(options, names=None):
    called = dict((option, option) for option in OPTIONS)
    called.update(names or {})
    return option_problems(dict(options), called)


class FilterModule(object):
    def filters(self):
        return {"image_build_problems": image_build_problems}
