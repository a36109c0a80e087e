"""The image role's Docker engine client: the few engine calls a release makes, without a module start-up each.

docker_engine.py list [REFERENCE ...]
    Whether the engine answers (GET /_ping) and which images the references name now (GET /images/json with a
    reference filter, as `docker images --filter reference=REF`; patterns such as name:1.0-* and name@* too).
    Prints {"can_talk_to_docker": bool, "host": DOCKER_HOST used, "msg": why not,
    "images": [{"Id", "RepoTags", "RepoDigests"}]}: the fields of community.docker.docker_host_info that the role
    reads, and RepoDigests (where each image was pushed), which docker_host_info lists only in its verbose output. As
    in the engine's answer, RepoTags and RepoDigests hold only the references a pattern matched; an image that bears
    none of the tags asked about is left out.

docker_engine.py tag [--push] IMAGE REPOSITORY TAG ...
    Tags IMAGE as REPOSITORY:TAG for each TAG (POST /images/IMAGE/tag) and, with --push, pushes each of them (POST
    /images/REPOSITORY:TAG/push, as `docker tag` and `docker push` do) to a registry that wants no login. Prints
    {"can_talk_to_docker": bool, "host", "msg": why the first failure failed, "tags": {TAG: {"digest": the
    manifest digest the registry stores (null without --push), "layers_pushed": layers that went up}}}.

The engine is the one the Docker CLI would use: DOCKER_HOST (unix:///var/run/docker.sock when unset), with TLS
when DOCKER_TLS_VERIFY (verify against DOCKER_CERT_PATH/ca.pem, client cert.pem/key.pem) or DOCKER_TLS (no
verification) is set, as minikube's docker-env sets them. Another scheme (ssh://, npipe://) prints
{"unsupported": true}, and the role asks community.docker's modules, which know them.
"""

import http.client
import json
import os
import re
import socket
import ssl
import sys
import urllib.parse

TIMEOUT = 30
# "[Errno 111] Connection refused" -> "Connection refused"; "... (_ssl.c:1000)" -> "..."
NOISE = re.compile(r"\[Errno -?[0-9]+\] | \(_ssl\.c:[0-9]+\)")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket."""

    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(self.socket_path)


def tls_context(verify):
    cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    try:
        if verify:
            context = ssl.create_default_context(cafile=os.path.join(cert_path, "ca.pem"))
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        cert, key = os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")
        if os.path.exists(cert) and os.path.exists(key):
            context.load_cert_chain(cert, key)
    except OSError as error:  # ssl.SSLError is one too
        raise OSError("cannot use the TLS files in DOCKER_CERT_PATH=%s (%s)" % (cert_path, NOISE.sub("", str(error))))
    return context


def connection(docker_host):
    """The connection to the engine DOCKER_HOST names; None for a scheme this script does not speak."""
    url = urllib.parse.urlsplit(docker_host)
    if url.scheme == "unix":
        return UnixHTTPConnection(url.path)
    if url.scheme in ("tcp", "http", "https"):
        verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
        if verify or os.environ.get("DOCKER_TLS") or url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname, url.port or 2376, timeout=TIMEOUT,
                                               context=tls_context(verify))
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=TIMEOUT)
    return None


# A push to a registry that wants no login still needs the header: base64 of the empty credentials "{}".
NO_LOGIN = {"X-Registry-Auth": "e30="}


def call(conn, method, path, headers=None):
    """The engine's answer to one request, as bytes; an error status raises with the engine's words."""
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    if response.status not in (200, 201):
        words = body[:300].decode("utf-8", "replace").strip()
        try:
            words = json.loads(body)["message"]   # the engine's errors are {"message": ...}
        except (ValueError, KeyError, TypeError):
            pass
        raise OSError("the engine answered HTTP %d to %s %s: %s" % (response.status, method, path.split("?")[0], words))
    return body


def messages(body):
    """The JSON messages of a streamed answer (a push's progress), in order."""
    text, decoder, position, out = body.decode("utf-8", "replace"), json.JSONDecoder(), 0, []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return out
        message, position = decoder.raw_decode(text, position)
        out.append(message)


def list_images(conn, refs):
    filters = urllib.parse.quote(json.dumps({"reference": refs}))
    return [{"Id": image["Id"], "RepoTags": image["RepoTags"], "RepoDigests": image.get("RepoDigests") or []}
            for image in json.loads(call(conn, "GET", "/images/json?filters=" + filters)) if image.get("RepoTags")]


def push(conn, repository, tag):
    """Pushes repository:tag; returns (manifest digest, layers that went up). The engine reports a failed push
    inside a 200 answer, as an error message in the stream."""
    digest, pushed = None, set()
    path = "/images/%s/push?tag=%s" % (urllib.parse.quote(repository, safe="/:"), urllib.parse.quote(tag))
    for message in messages(call(conn, "POST", path, NO_LOGIN)):
        if message.get("error"):
            raise OSError("pushing %s:%s failed: %s" % (repository, tag, message["error"]))
        if message.get("status") == "Pushed":
            pushed.add(message.get("id"))
        digest = (message.get("aux") or {}).get("Digest", digest)
    return digest, len(pushed)


def tag_images(conn, image, repository, tags, with_push, done):
    """Tags (and pushes) one tag after the other, recording each in done as it succeeds."""
    for tag in tags:
        query = urllib.parse.urlencode({"repo": repository, "tag": tag})
        call(conn, "POST", "/images/%s/tag?%s" % (urllib.parse.quote(image, safe=":"), query))
        digest, layers = push(conn, repository, tag) if with_push else (None, 0)
        done[tag] = {"digest": digest, "layers_pushed": layers}


def main(argv):
    docker_host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    result = {"host": docker_host, "can_talk_to_docker": False, "msg": ""}
    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("list", [])
    conn = None
    try:
        conn = connection(docker_host)
        if conn is None:
            print(json.dumps(dict(result, unsupported=True)))
            return
        call(conn, "GET", "/_ping")
        result["can_talk_to_docker"] = True
        if command == "list":
            result["images"] = list_images(conn, args) if args else []
        else:
            with_push = args[:1] == ["--push"]
            image, repository, *tags = args[1:] if with_push else args
            result["tags"] = {}
            tag_images(conn, image, repository, tags, with_push, result["tags"])
    except (OSError, ValueError, http.client.HTTPException) as error:  # refused, missing socket, TLS, bad answer
        result["msg"] = NOISE.sub("", str(error)) or type(error).__name__
    finally:
        if conn is not None:
            conn.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
