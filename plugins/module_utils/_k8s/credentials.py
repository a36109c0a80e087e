# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every credential this process has seen, and the one function that takes them out of a text.

Whatever reads a credential (the kubeconfig loader, the connection options, the client that sends a
token it got from a plugin) remembers it here. Error messages pass through redact() before anyone sees
them, so a message that quotes a credential - urllib3 repeating a header value it refused, a URL parser
repeating a proxy URL - shows a mask instead. Ansible masks only the values of no_log options; a token
read from a kubeconfig file is none of those, so the module also hands these to its no_log_values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
from urllib.parse import quote, quote_plus

MASK = "********"

_known = set()


def _forms(secret):
    """The ways a secret shows up in a message: as is, trimmed, with its control characters escaped (repr of
    str or bytes, as Python's and urllib3's messages quote values), URL-encoded."""
    forms = set([secret, secret.strip()])
    forms.add(secret.encode("unicode_escape").decode("ascii"))
    forms.add(repr(secret.encode("utf-8"))[2:-1])
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret, safe=""))
    return set(form for form in forms if form)


def remember(*secrets):
    """Keep these strings (None and empty ones are skipped) to be masked in every message of this process."""
    for secret in secrets:
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", "replace")
        if isinstance(secret, str) and secret and secret not in _known:
            _known.update(_forms(secret))


def remember_basic_auth(username, password):
    """A username:password pair, also as the base64 an Authorization header carries."""
    remember(password)
    if username is not None and password:
        remember(base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii"))


def known():
    """Every form of every remembered credential (for AnsibleModule.no_log_values)."""
    return set(_known)


def redact(text):
    """text with every remembered credential masked; the longest first, so a token is not half masked by a
    shorter secret inside it."""
    text = "%s" % (text,)
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_all():
    """For tests: start from nothing remembered."""
    _known.clear()
