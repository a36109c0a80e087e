"""Ask the Docker engine of this host's environment whether it answers (GET /_ping) and which images the given
references name now (GET /images/json with a reference filter, as `docker images --filter reference=REF`).
Prints JSON: {"can_talk_to_docker": bool, "host": DOCKER_HOST used, "msg": why not, "images": [{"Id", "RepoTags"}]}
- the fields of community.docker.docker_host_info that the image role reads.

The engine is the one the Docker CLI would use: DOCKER_HOST (unix:///var/run/docker.sock when unset), with TLS
when DOCKER_TLS_VERIFY (verify against DOCKER_CERT_PATH/ca.pem, client cert.pem/key.pem) or DOCKER_TLS (no
verification) is set, as minikube's docker-env sets them. Another scheme (ssh://, npipe://) prints
{"unsupported": true} and the role asks docker_host_info, which knows them.

One small script instead of a docker_host_info module run: on every release this saves a module start-up.

Usage: engine_probe.py [REFERENCE ...]
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


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise OSError("the engine answered HTTP %d to GET %s: %s" % (response.status, path, body[:200].decode("utf-8", "replace")))
    return json.loads(body) if body.strip() not in (b"", b"OK") else body.decode()


def main(argv):
    docker_host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    result = {"host": docker_host, "can_talk_to_docker": False, "msg": "", "images": []}
    conn = None
    try:
        conn = connection(docker_host)
        if conn is None:
            print(json.dumps(dict(result, unsupported=True)))
            return
        get(conn, "/_ping")
        if argv[1:]:
            filters = urllib.parse.quote(json.dumps({"reference": argv[1:]}))
            result["images"] = [{"Id": image["Id"], "RepoTags": image.get("RepoTags") or []}
                                for image in get(conn, "/images/json?filters=" + filters)]
        result["can_talk_to_docker"] = True
    except (OSError, ValueError, http.client.HTTPException) as error:  # refused, missing socket, TLS, bad answer
        result["msg"] = NOISE.sub("", str(error)) or type(error).__name__
    finally:
        if conn is not None:
            conn.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
