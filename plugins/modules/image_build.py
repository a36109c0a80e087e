#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: image_build
short_description: Build an app's image once per change of its inputs, push it, and tag it with its version and commit
version_added: 0.2.0
author:
  - kubedev.devloop contributors (@kubedev)
description:
  - Names the image of an app directory after its build inputs - the content tag C(<version>-<digest>), where the
    digest covers the build context (what C(docker build) sends, by C(.dockerignore) as the Docker CLI reads it), the
    Dockerfile's name, the build arguments and labels, and the base image's ID - so an unchanged app never rebuilds
    and any edit does.
  - With O(state=planned) it only reads and reports - the app directory, the content tag, and what of it is in place
    in the Docker engine and the registry (RV(image_up_to_date)).
  - With O(state=present) (the default) it builds, pushes and tags what is missing, in the same run - the content
    tag, then the version tag and the commit tag (the app directory's last git commit).
  - "Speaks to the engine the Docker CLI would (C(DOCKER_HOST) - a unix socket, C(tcp://) with TLS as minikube's
    C(docker-env) sets it, or C(ssh://) through C(ssh HOST docker system dial-stdio)), and logs in to a registry
    with the credentials given, per request (nothing is written to C(~/.docker/config.json))."
  - The build context is streamed from disk; its size is not bounded by memory.
options:
  state:
    description:
      - V(present) builds, pushes and tags what is missing; V(planned) only reports.
    type: str
    default: present
    choices: [present, planned]
  app_dir:
    description: The app's directory on the target host, with its Dockerfile.
    type: path
    required: true
  dockerfile:
    description: The Dockerfile, relative to O(app_dir).
    type: str
    default: Dockerfile
  name:
    description: Image name without the registry; empty takes C(name) of the app's C(package.json).
    type: str
    default: ""
  version:
    description: The version tag; empty takes C(version) of the app's C(package.json).
    type: str
    default: ""
  ref_tag:
    description: Which tag RV(image_ref) names.
    type: str
    default: content
    choices: [content, version, commit]
  tag_git_commit:
    description: Also tag the image with the app directory's last git commit (nothing outside a git repository).
    type: bool
    default: true
  base_image:
    description:
      - The image the Dockerfile builds on, passed as build argument C(BASE_IMAGE); its ID is a build input.
      - Empty leaves the Dockerfile's own default, which the engine pulls when it lacks it.
    type: str
    default: ""
  base_image_archive:
    description: A C(docker save) archive of O(base_image), loaded when the engine lacks the image (air-gapped hosts).
    type: path
  build_args:
    description: Build arguments.
    type: dict
    default: {}
  build_labels:
    description: Labels of the image; C(org.opencontainers.image.version) and the build digest are added.
    type: dict
    default: {}
  build_network:
    description: Network mode of the build's C(RUN) steps; empty is the engine's default bridge.
    type: str
    default: ""
  builder:
    description: What builds the image. V(engine) is the engine's own API (C(POST /build)).
    type: str
    default: engine
    choices: [engine]
  registry:
    description: Where the image is pushed, as C(host[:port][/path]); empty builds into the engine only.
    type: str
    default: ""
  push:
    description: Push the tags to O(registry). Defaults to whether O(registry) is set.
    type: bool
  registry_auth:
    description: Log in with O(registry_username) and O(registry_password). Defaults to whether a username is given.
    type: bool
  registry_username:
    description: The registry user.
    type: str
    default: ""
  registry_password:
    description: The registry password or token; never shown.
    type: str
    default: ""
  docker_env:
    description:
      - The engine's C(DOCKER_HOST), C(DOCKER_TLS_VERIFY), C(DOCKER_CERT_PATH) (the output of C(minikube docker-env)).
      - Empty uses the target's environment, as the Docker CLI does.
    type: dict
    default: {}
  var_names:
    description:
      - How messages call each option (a role passes the names its users set, for example C(app_dir) as
        C(kubedev_app_dir)). Options left out are called by their own names.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description:
      - Reports what would be built, pushed and tagged (RV(actions)) and changes nothing.
  diff_mode:
    support: full
    description:
      - Shows which image each tag names before and after.
notes:
  - The engine's classic builder builds (as C(DOCKER_BUILDKIT=0 docker build)); the base image is not pulled when the
    engine has it. Intermediate containers are removed, a failed step's too.
  - A registry is reached over https with its certificate checked, unless the engine itself treats it as insecure
    (its C(insecure-registries), which include 127.0.0.0/8 by default); then http is tried too, as Docker does.
seealso:
  - module: kubedev.devloop.set_image
  - module: community.docker.docker_image
"""

EXAMPLES = r"""
- name: Build the app into minikube's Docker
  kubedev.devloop.image_build:
    app_dir: /home/dev/hello-k8s
    docker_env: "{{ minikube_docker_env }}"
  register: image

- name: Roll it out
  kubedev.devloop.set_image:
    name: web-deployment
    containers:
      web: "{{ image.image_ref }}"

- name: What would a release build and push?
  kubedev.devloop.image_build:
    app_dir: /home/dev/hello-k8s
    registry: registry.example.com/team
    registry_username: ci
    registry_password: "{{ vault_registry_password }}"
    state: planned
  register: plan
"""

RETURN = r"""
image_ref:
  description: The reference a Deployment should run (O(ref_tag) chooses its tag).
  returned: always
  type: str
  sample: 127.0.0.1:5000/hello-k8s:0.0.1-3f1c2a9b8d7e
image_repository:
  description: The image's repository, with the registry.
  returned: always
  type: str
image_tags:
  description: The version, content and commit tags.
  returned: always
  type: list
  elements: str
image_up_to_date:
  description: Whether everything was in place before this run (nothing to build, push or tag).
  returned: always
  type: bool
image_pull_policy:
  description: C(IfNotPresent) for content tags (they never change meaning), C(Always) for a pushed version or commit tag.
  returned: always
  type: str
image_build_digest:
  description: The sha256 of the build inputs.
  returned: always
  type: str
image_id:
  description: The ID of the content tag's image in the engine; empty when it is not built yet.
  returned: always
  type: str
content_tag:
  description: C(<version>-<the first 12 hex of the build digest>); empty while the base image is not in the engine.
  returned: always
  type: str
tags_to_do:
  description: The version and commit tags that did not name this build (in check mode and with O(state=planned)).
  returned: always
  type: list
  elements: str
context:
  description: The build context - its digest and how many files it holds.
  returned: always
  type: dict
actions:
  description: What was done (or, in check mode, what would be done), one line each.
  returned: always
  type: list
  elements: str
  sample: [built 127.0.0.1:5000/hello-k8s:0.0.1-3f1c2a9b8d7e, pushed 127.0.0.1:5000/hello-k8s:0.0.1-3f1c2a9b8d7e]
failed_step:
  description: On a failed build, the step it stopped at.
  returned: failure
  type: list
  elements: str
output:
  description: On a failed build, what that step printed.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedev.devloop.plugins.module_utils.image_build_runner import OPTIONS, run


def main():
    module = AnsibleModule(argument_spec=dict(
        state=dict(type="str", default="present", choices=["present", "planned"]),
        app_dir=dict(type="path", required=True),
        dockerfile=dict(type="str", default="Dockerfile"),
        name=dict(type="str", default=""),
        version=dict(type="str", default=""),
        ref_tag=dict(type="str", default="content", choices=["content", "version", "commit"]),
        tag_git_commit=dict(type="bool", default=True),
        base_image=dict(type="str", default=""),
        base_image_archive=dict(type="path"),
        build_args=dict(type="dict", default={}),
        build_labels=dict(type="dict", default={}),
        build_network=dict(type="str", default=""),
        builder=dict(type="str", default="engine", choices=["engine"]),
        registry=dict(type="str", default=""),
        push=dict(type="bool"),
        registry_auth=dict(type="bool"),
        registry_username=dict(type="str", default=""),
        registry_password=dict(type="str", default="", no_log=True),
        docker_env=dict(type="dict", default={}),
        var_names=dict(type="dict", default={}),
    ), supports_check_mode=True)
    names = dict((option, option) for option in OPTIONS)
    names.update(module.params["var_names"] or {})
    result = run(module.params, names, module.check_mode)
    if not module._diff:
        result.pop("diff", None)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
