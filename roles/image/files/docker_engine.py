"""The image role's Docker engine client: the few engine calls a release makes, without a module start-up each.

docker_engine.py find [--base REFERENCE] [--content VERSION INPUTS_JSON] [--registry HOST[:PORT] [--manifests-of PATH]]
                      REPOSITORY [TAG ...]
    Whether the engine answers (GET /_ping) and which images these references name now, each asked by name (GET
    /images/REFERENCE/json, as `docker image inspect`; a list of all images costs the engine time for every image it
    has): the base image, REPOSITORY:TAG for each TAG and, with --content, the content tag REPOSITORY:VERSION-<the
    first 12 hex of the sha256 of INPUTS_JSON with "base" set to the base image's ID ('' without --base)>. The image
    role works out the same digest (image__digest: to_json(sort_keys=True) | hash('sha256')); were they ever to
    differ, the build would only not be found here, and docker_image would look for it. A --base the engine lacks
    leaves the content tag unknown (''): its ID is part of it.
    Prints {"can_talk_to_docker": bool, "host": DOCKER_HOST used, "msg": why not, "content_tag": the tag worked out,
    "images": [{"Id", "RepoTags", "RepoDigests"}]}, each image once, without the references that name nothing: the
    fields of community.docker.docker_host_info that the role reads, and RepoDigests (where each image was pushed).

    With --registry, the same run asks the registry the image is pushed to (one script run a release, where each
    costs ~0.1 s): its API version check from this host (GET /v2/), as Docker reaches an insecure registry: https
    first (certificate not checked), then http when https got no HTTP answer at all. "registry": {"https": {"status",
    "reason"}, "http": {"status", "reason"} or null}; status is the HTTP status, or -1 with the reason there was none
    ("Connection refused", "[SSL: WRONG_VERSION_NUMBER] wrong version number", "timed out"). With --manifests-of
    PATH (the repository's path in the registry), when the check answered 200 (no login wanted) and the engine has
    the content tag's image, also which manifest the content tag and each TAG name there (HEAD
    /v2/PATH/manifests/TAG, its Docker-Content-Digest): "registry": {..., "manifests": {TAG: "sha256:..." or null
    when the registry has no such tag or did not say}}. The registry is asked even when the engine is not.

docker_engine.py tag [--push] IMAGE REPOSITORY TAG ...
    Tags IMAGE as REPOSITORY:TAG for each TAG (POST /images/IMAGE/tag) and, with --push, pushes each of them (POST
    /images/REPOSITORY:TAG/push, as `docker tag` and `docker push` do) to a registry that wants no login. Prints
    {"can_talk_to_docker": bool, "host", "msg": why the first failure failed, "tags": {TAG: {"digest": the
    manifest digest the registry stores (null without --push), "layers_pushed": layers that went up}}}.

The engine is the one the Docker CLI would use: DOCKER_HOST (unix:///var/run/docker.sock when unset), with TLS
when DOCKER_TLS_VERIFY (verify against DOCKER_CERT_PATH/ca.pem, client cert.pem/key.pem) or DOCKER_TLS (no
verification) is set, as minikube's docker-env sets them. Another scheme (ssh://, npipe://) prints
{"unsupported": true} (and the registry's answer), and the role asks community.docker's modules, which know them.
"""

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 30
# The registry's answer is a check before the build: a host that drops packets fails it sooner.
REGISTRY_TIMEOUT = 10
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


class NotFound(OSError):
    """The engine answered 404: no such image."""


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
        raise (NotFound if response.status == 404 else OSError)(
            "the engine answered HTTP %d to %s %s: %s" % (response.status, method, path.split("?")[0], words))
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


def inspect(conn, ref):
    """The image ref names ({"Id", "RepoTags", "RepoDigests"}), or None when it names none."""
    try:
        image = json.loads(call(conn, "GET", "/images/%s/json" % urllib.parse.quote(ref, safe="/:@")))
    except NotFound:
        return None
    return {"Id": image["Id"], "RepoTags": image.get("RepoTags") or [], "RepoDigests": image.get("RepoDigests") or []}


def content_tag(version, inputs, base_id):
    """VERSION-<the first 12 hex of the sha256 of the inputs' JSON, keys sorted, base set>: as the role's image__digest
    (Ansible's to_json is json.dumps, ASCII-escaped, with the default separators)."""
    digest = hashlib.sha256(json.dumps(dict(inputs, base=base_id), sort_keys=True).encode()).hexdigest()
    return "%s-%s" % (version, digest[:12])


def find_options(args):
    """find's options: {"base", "content": (VERSION, inputs) or None, "registry", "manifests_of", "repository",
    "tags"}."""
    options = {"base": None, "content": None, "registry": None, "manifests_of": None}
    while args[:1] in (["--base"], ["--content"], ["--registry"], ["--manifests-of"]):
        if args[0] == "--content":
            options["content"], args = (args[1], json.loads(args[2])), args[3:]
        else:
            options[args[0][2:].replace("-", "_")], args = args[1], args[2:]
    options["repository"], options["tags"] = args[0], args[1:]
    return options


def find_images(conn, options):
    """The images the base, the content tag and the tags name (see the module's doc), and the content tag."""
    base, content, repository = options["base"], options["content"], options["repository"]
    found = {}
    base_image = inspect(conn, base) if base else None
    if base_image:
        found[base_image["Id"]] = base_image
    tag = content_tag(content[0], content[1], base_image["Id"] if base_image else "") if content and (
        base_image or not base) else ""
    for ref in ([repository + ":" + tag] if tag else []) + [repository + ":" + t for t in options["tags"]]:
        image = inspect(conn, ref)
        if image:
            found[image["Id"]] = image
    return {"content_tag": tag, "images": list(found.values())}


# The registry: its answers, as Docker reaches an insecure registry (127.0.0.0/8 is one by default).

def unverified_tls():
    """TLS without checking the certificate. No CA store is loaded: nothing is checked against one, and loading it
    costs ~15 ms a request."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def registry_status(url, tls):
    try:
        with urllib.request.urlopen(url, timeout=REGISTRY_TIMEOUT, context=tls) as response:
            return {"status": response.status, "reason": ""}
    except urllib.error.HTTPError as error:  # an HTTP answer, only not a 2xx one (401: a login is wanted)
        return {"status": error.code, "reason": ""}
    except urllib.error.URLError as error:
        return {"status": -1, "reason": NOISE.sub("", str(error.reason))}
    except (socket.timeout, TimeoutError):
        return {"status": -1, "reason": "timed out"}
    except (OSError, ValueError) as error:  # a reset connection, a malformed answer, an invalid port
        return {"status": -1, "reason": NOISE.sub("", str(error)) or type(error).__name__}


# Every manifest type docker push writes: the registry answers with the digest of the one it stores.
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def manifest_digest(base_url, path, tag, tls):
    request = urllib.request.Request("%s/v2/%s/manifests/%s" % (base_url, path, tag), method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=REGISTRY_TIMEOUT, context=tls) as response:
            return response.headers.get("Docker-Content-Digest")
    except (urllib.error.URLError, OSError, ValueError):  # no such tag (404), or no answer: unknown either way
        return None


def ask_registry(options, found):
    """The registry's answer (see the module's doc); found is find_images' answer, when the engine gave one."""
    host, tls = options["registry"], unverified_tls()
    https = registry_status("https://%s/v2/" % host, tls)
    http = registry_status("http://%s/v2/" % host, tls) if https["status"] == -1 else None
    answer = {"https": https, "http": http}
    tag = found.get("content_tag")
    built = tag and any(options["repository"] + ":" + tag in image["RepoTags"] for image in found.get("images", []))
    if options["manifests_of"] and built and (http or https)["status"] == 200:
        base_url = ("http://" if http else "https://") + host
        answer["manifests"] = {t: manifest_digest(base_url, options["manifests_of"], t, tls)
                               for t in [tag] + options["tags"]}
    return answer


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
    command, args = argv[1], argv[2:]
    options = find_options(args) if command == "find" else None
    conn = None
    try:
        conn = connection(docker_host)
        if conn is None:
            result["unsupported"] = True
        else:
            call(conn, "GET", "/_ping")
            result["can_talk_to_docker"] = True
            if command == "find":
                result.update(find_images(conn, options))
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
    if options and options["registry"]:
        result["registry"] = ask_registry(options, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
