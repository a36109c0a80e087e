# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How kubedev.devloop modules connect to the Kubernetes API (the kubernetes.core option names)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of a kubeconfig file, several paths separated by C(:) (C(;) on Windows), or the kubeconfig content as a
        dictionary.
      - Without it and without O(host), the file named by the E(KUBECONFIG) environment variable or C(~/.kube/config)
        is used, and inside a pod the pod's service account.
      - Impersonation of the kubeconfig user (C(as), C(as-uid), C(as-groups), C(as-user-extra)) is honoured with the
        C(Impersonate-*) headers, as kubectl sends them, also when a credential plugin (C(exec), C(auth-provider))
        provides the credentials.
      - A field of the context, cluster or user in use that the module does not implement is refused with an error
        naming it, never ignored; so are two authentication methods for one user, impersonation details without
        C(as), a quoted boolean, and an C(auth-provider) other than C(gcp) or C(oidc).
      - Not logged (C(no_log)); of a dictionary, only the user entries' values and proxy passwords are masked in
        messages.
      - Environment variable E(K8S_AUTH_KUBECONFIG) sets it as well.
    type: raw
  context:
    description:
      - Name of the kubeconfig context to use instead of the current one.
      - Environment variable E(K8S_AUTH_CONTEXT) sets it as well.
    type: str
  host:
    description:
      - URL of the API server, for example C(https://127.0.0.1:6443). Overrides the kubeconfig's server.
      - With O(api_key) or O(client_cert) no kubeconfig is needed.
      - Environment variable E(K8S_AUTH_HOST) sets it as well.
    type: str
  api_key:
    description:
      - Bearer token to authenticate with, for example a ServiceAccount token.
      - Environment variable E(K8S_AUTH_API_KEY) sets it as well.
    type: str
  username:
    description:
      - User name for HTTP basic authentication (only clusters configured for it accept this).
      - Environment variable E(K8S_AUTH_USERNAME) sets it as well.
    type: str
  password:
    description:
      - Password for HTTP basic authentication, with O(username).
      - Environment variable E(K8S_AUTH_PASSWORD) sets it as well.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to what the kubeconfig says (verify, unless it
        sets C(insecure-skip-tls-verify)).
      - Environment variable E(K8S_AUTH_VERIFY_SSL) sets it as well.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path of the CA certificate bundle that signed the API server's certificate.
      - Environment variable E(K8S_AUTH_SSL_CA_CERT) sets it as well.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path of a client certificate to authenticate with.
      - Environment variable E(K8S_AUTH_CERT_FILE) sets it as well.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path of the private key of O(client_cert).
      - Environment variable E(K8S_AUTH_KEY_FILE) sets it as well.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP(S) proxy URL to reach the API server through, for example C(http://proxy.example:3128).
      - Only C(http://) and C(https://) proxies are supported (also for a kubeconfig's C(proxy-url)); another scheme
        is an error before any connection. C(user:password@) in the URL is sent as C(Proxy-Authorization).
      - Not logged (C(no_log)); its password is masked in messages.
      - Environment variable E(K8S_AUTH_PROXY) sets it as well.
    type: str
  no_proxy:
    description:
      - Comma-separated host names (or domain suffixes) that bypass O(proxy).
      - Environment variable E(K8S_AUTH_NO_PROXY) sets it as well.
    type: str
requirements:
  - kubernetes (the Python client; certificate, token and basic-auth kubeconfigs are read without it,
    credential plugins (C(exec), C(auth-provider)) and the in-cluster service account need it)
  - urllib3
notes:
  - The connection options have the names and environment variables of the M(kubernetes.core.k8s) module, so
    existing C(module_defaults) and E(K8S_AUTH_*) settings carry over.
"""
