# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup: the controller's user ID, without starting a process.

inventory/localhost.yml picks the become method from it. Ansible reads ansible_become_method for every
task, become or not, so a pipe lookup there (`id -u`) forked a shell per task: about 10 ms each.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: controller_uid
author: kubedev.devloop contributors (@kubedev)
version_added: 0.1.0
short_description: The user ID Ansible runs as on the controller
description:
  - Returns the real user ID of the C(ansible-playbook) process, as C(id -u) prints it, without starting a process.
  - With the C(local) connection this is also the user that tasks run as before C(become).
  - Takes no terms.
"""

EXAMPLES = r"""
- name: Become with su when the controller runs as root (root may have no sudo, and su needs no password)
  ansible.builtin.set_fact:
    ansible_become_method: "{{ 'ansible.builtin.su' if lookup('kubedev.devloop.controller_uid') == 0 else 'ansible.builtin.sudo' }}"
"""

RETURN = r"""
_raw:
  description: The user ID, one integer.
  type: list
  elements: int
"""

import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms or kwargs:
            raise AnsibleError("kubedev.devloop.controller_uid takes no terms or options")
        return [os.getuid()]
