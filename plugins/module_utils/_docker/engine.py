# -*- coding: utf-8 -*-
# Copyright (c) kubedev.devloop contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small client of the Docker Engine API, standard library only, private to the collection.

It reaches the engine the Docker CLI would: DOCKER_HOST (unix:///var/run/docker.sock when unset), tcp:// with TLS
when DOCKER_TLS_VERIFY (the engine's certificate checked against DOCKER_CERT_PATH/ca.pem, the client's cert.pem and
key.pem presented) or DOCKER_TLS is set - minikube's docker-env sets these - and ssh:// as the CLI does it: `ssh
HOST docker system dial-stdio`, the engine's socket on the other end of ssh's standard input and output.

community.docker's _api package and the Docker SDK for Python show the same requests; this keeps to the few a build
needs, so a module run imports no more than http.client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import re
import socket
import subprocess
from urllib.parse import quote, urlencode, urlsplit

TIMEOUT = 60
DEFAULT_HOST = "unix:///var/run/docker.sock"
# "[Errno 111] Connection refused" -> "Connection refused"; "... (_ssl.c:1000)" -> "..."
_NOISE = re.compile(r"\[Errno -?[0-9]+\] | \(_ssl\.c:[0-9]+\)")


class EngineError(Exception):
    """The engine refused or failed a request; str() is the engine's words, ready for a user."""


class EngineUnreachable(EngineError):
    """No answer from the engine at all."""


class NotFound(EngineError):
    """The engine answered 404."""


def quiet(error):
    """An OS or TLS error's words without errno and source-file noise."""
    return _NOISE.sub("", str(error)) or type(error).__name__


class EngineSettings(object):
    """Where the engine is and how to reach it, from a DOCKER_* environment (the process's or minikube's
    docker-env)."""

    def __init__(self, environment=None):
        env = os.environ if environment is None else environment
        self.host = env.get("DOCKER_HOST") or DEFAULT_HOST
        self.tls_verify = bool(env.get("DOCKER_TLS_VERIFY"))
        self.tls = self.tls_verify or bool(env.get("DOCKER_TLS"))
        self.cert_path = env.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")

    @property
    def scheme(self):
        return urlsplit(self.host).scheme

    def problem(self):
        """Why this client cannot reach DOCKER_HOST, or None."""
        if self.scheme not in ("unix", "tcp", "http", "https", "ssh"):
            return "DOCKER_HOST=%s: the scheme %r is not supported (unix, tcp, ssh)" % (self.host, self.scheme)
        return None


def registry_auth_header(username, password, server):
    """X-Registry-Auth as the CLI sends it: base64url of the JSON credentials; "{}" with no login."""
    auth = {"username": username, "password": password, "serveraddress": server} if username else {}
    return base64.urlsafe_b64encode(json.dumps(auth).encode("utf-8")).decode("ascii")


class _StdioSocket(object):
    """The part of a socket http.client uses, over a child process's standard input and output."""

    def __init__(self, argv):
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as error:
            raise EngineUnreachable("cannot run %s: %s" % (argv[0], quiet(error)))

    def sendall(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise EngineUnreachable(self.why())

    def makefile(self, mode, *args, **kwargs):
        return self.proc.stdout

    def settimeout(self, timeout):
        pass

    def why(self):
        try:
            _out, err = self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            err = b""
        return (err or b"").decode("utf-8", "replace").strip() or "the ssh connection closed"

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


def ssh_argv(host):
    """The ssh command the Docker CLI runs for DOCKER_HOST=ssh://[user@]host[:port][/path]."""
    url = urlsplit(host)
    argv = ["ssh", "-T", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes"]
    if url.username:
        argv += ["-l", url.username]
    if url.port:
        argv += ["-p", str(url.port)]
    return argv + ["--", url.hostname, "docker", "system", "dial-stdio"]


def _connection(settings, timeout):
    import http.client

    url = urlsplit(settings.host)

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(url.path)

    class SSHConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = _StdioSocket(ssh_argv(settings.host))

    if url.scheme == "unix":
        return UnixConnection("localhost", timeout=timeout)
    if url.scheme == "ssh":
        return SSHConnection("localhost", timeout=timeout)
    if settings.tls or url.scheme == "https":
        return http.client.HTTPSConnection(url.hostname, url.port or 2376, timeout=timeout,
                                           context=_tls_context(settings))
    return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout)


def _tls_context(settings):
    import ssl

    try:
        if settings.tls_verify:
            context = ssl.create_default_context(cafile=os.path.join(settings.cert_path, "ca.pem"))
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert, key = os.path.join(settings.cert_path, "cert.pem"), os.path.join(settings.cert_path, "key.pem")
        if os.path.exists(cert) and os.path.exists(key):
            context.load_cert_chain(cert, key)
    except OSError as error:  # ssl.SSLError is one too
        raise EngineUnreachable("cannot use the TLS files in DOCKER_CERT_PATH=%s (%s)" % (settings.cert_path, quiet(error)))
    return context


def json_messages(chunks):
    """The JSON messages of a streamed answer (build output, push progress), as they arrive."""
    decoder, text = json.JSONDecoder(), ""
    for chunk in chunks:
        text += chunk.decode("utf-8", "replace")
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            try:
                message, end = decoder.raw_decode(text, position)
            except ValueError:
                break
            yield message
            position = end
        text = text[position:]


class Engine(object):
    """One engine; each request opens its own connection (http.client keeps no pool), closed after the answer."""

    def __init__(self, settings, timeout=TIMEOUT):
        self.settings = settings
        self.timeout = timeout

    @property
    def host(self):
        return self.settings.host

    def _open(self, method, path, query=None, headers=None, body=None, timeout=None):
        conn = _connection(self.settings, self.timeout if timeout is None else timeout)
        url = path + ("?" + urlencode(query) if query else "")
        try:
            conn.request(method, url, body=body, headers=headers or {})
            response = conn.getresponse()
        except EngineError:
            conn.close()
            raise
        except Exception as error:  # refused, a missing socket, TLS, a broken answer: no answer to use
            sock = getattr(conn, "sock", None)
            conn.close()
            raise EngineUnreachable(sock.why() if isinstance(sock, _StdioSocket) else quiet(error))
        if response.status >= 300:
            data = response.read()
            conn.close()
            words = data[:500].decode("utf-8", "replace").strip()
            try:
                words = json.loads(data)["message"]   # the engine's errors are {"message": ...}
            except (ValueError, KeyError, TypeError):
                pass
            raise (NotFound if response.status == 404 else EngineError)(
                "the engine answered HTTP %d to %s %s: %s" % (response.status, method, path, words))
        return conn, response

    def call(self, method, path, query=None, headers=None, body=None):
        """The whole answer, as bytes."""
        conn, response = self._open(method, path, query, headers, body)
        try:
            return response.read()
        except Exception as error:
            raise EngineUnreachable(quiet(error))
        finally:
            conn.close()

    def stream(self, method, path, query=None, headers=None, body=None):
        """The answer's JSON messages as they arrive (a build may print nothing for minutes: no read timeout)."""
        conn, response = self._open(method, path, query, headers, body, timeout=None)

        def chunks():
            while True:
                data = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
                if not data:
                    return
                yield data

        try:
            yield from json_messages(chunks())
        except EngineError:
            raise
        except Exception as error:
            raise EngineUnreachable(quiet(error))
        finally:
            conn.close()

    # The requests a build needs.

    def ping(self):
        self.call("GET", "/_ping")

    def info(self):
        return json.loads(self.call("GET", "/info"))

    def inspect_image(self, ref):
        """{"Id", "RepoTags", "RepoDigests"} of the image ref names, or None."""
        try:
            image = json.loads(self.call("GET", "/images/%s/json" % quote(ref, safe="/:@")))
        except NotFound:
            return None
        return {"Id": image["Id"], "RepoTags": image.get("RepoTags") or [],
                "RepoDigests": image.get("RepoDigests") or []}

    def tag(self, image, repository, tag):
        self.call("POST", "/images/%s/tag" % quote(image, safe=":"), {"repo": repository, "tag": tag})

    def push(self, repository, tag, auth_header):
        """Pushes repository:tag; returns (manifest digest, layers that went up). The engine reports a failed push
        inside its 200 answer, as an error message in the stream."""
        digest, pushed = None, set()
        for message in self.stream("POST", "/images/%s/push" % quote(repository, safe="/:"), {"tag": tag},
                                   {"X-Registry-Auth": auth_header}):
            if message.get("error"):
                raise EngineError("pushing %s:%s failed: %s" % (repository, tag, message["error"]))
            if message.get("status") == "Pushed":
                pushed.add(message.get("id"))
            digest = (message.get("aux") or {}).get("Digest", digest)
        return digest, len(pushed)

    def pull(self, ref, auth_header):
        name, tag = ref.rsplit(":", 1) if ":" in ref.rsplit("/", 1)[-1] else (ref, "latest")
        for message in self.stream("POST", "/images/create", {"fromImage": name, "tag": tag},
                                   {"X-Registry-Auth": auth_header}):
            if message.get("error"):
                raise EngineError("pulling %s failed: %s" % (ref, message["error"]))

    def load(self, path):
        """Loads a `docker save` archive, streamed from the file."""
        def chunks():
            with open(path, "rb") as handle:
                while True:
                    data = handle.read(1 << 20)
                    if not data:
                        return
                    yield data

        try:
            os.stat(path)
        except OSError as error:
            raise EngineError("cannot read %s: %s" % (path, quiet(error)))
        for message in self.stream("POST", "/images/load", {"quiet": "1"}, {"Content-Type": "application/x-tar"},
                                   chunks()):
            if message.get("error"):
                raise EngineError("loading %s failed: %s" % (path, message["error"]))

    def build(self, context_chunks, query, registry_config=None, on_message=None):
        """POST /build with the context streamed (chunked): the classic builder, as `DOCKER_BUILDKIT=0 docker build`.
        Returns (log text, error or None); on_message sees each message as it arrives."""
        headers = {"Content-Type": "application/x-tar"}
        if registry_config:
            headers["X-Registry-Config"] = base64.urlsafe_b64encode(
                json.dumps(registry_config).encode("utf-8")).decode("ascii")
        log, error = [], None
        for message in self.stream("POST", "/build", query, headers, context_chunks):
            if on_message:
                on_message(message)
            log.append(message.get("stream") or "")
            error = error or message.get("error")
        return "".join(log), error
