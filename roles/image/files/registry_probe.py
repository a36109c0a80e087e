"""Ask a registry for its API version check (GET /v2/) from the target host, as Docker reaches an insecure
registry: https first (certificate not checked), then http when https got no HTTP answer at all. Prints JSON:
{"https": {"status", "reason"}, "http": {"status", "reason"} or null}; status is the HTTP status, or -1 with the
reason there was none ("Connection refused", "[SSL: WRONG_VERSION_NUMBER] wrong version number", "timed out").

With --manifests REPOSITORY TAG... it also asks, when the check answered 200 (no login wanted), which manifest each
tag names (HEAD /v2/REPOSITORY/manifests/TAG, its Docker-Content-Digest), on the scheme that answered; the JSON then
has "manifests": {"TAG": "sha256:..." or null when the registry has no such tag or did not say}.

One small script instead of ansible.builtin.uri tasks: on every release this saves module start-ups.

Usage: registry_probe.py HOST[:PORT] [TIMEOUT_SECONDS] [--manifests REPOSITORY TAG...]
"""

import json
import re
import socket
import ssl
import sys
import urllib.error
import urllib.request

# "[Errno 111] Connection refused" -> "Connection refused"; "... (_ssl.c:1000)" -> "..."
NOISE = re.compile(r"\[Errno -?[0-9]+\] | \(_ssl\.c:[0-9]+\)")


def unverified_tls():
    """TLS without checking the certificate, as Docker talks to an insecure registry. No CA store is loaded: nothing
    is checked against one, and loading it costs ~15 ms a request."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


UNVERIFIED_TLS = unverified_tls()


def probe(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=UNVERIFIED_TLS) as response:
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


def manifest_digest(base_url, repository, tag, timeout):
    request = urllib.request.Request(f"{base_url}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=UNVERIFIED_TLS) as response:
            return response.headers.get("Docker-Content-Digest")
    except (urllib.error.URLError, OSError, ValueError):  # no such tag (404), or no answer: unknown either way
        return None


def main(argv):
    args, manifests = (argv[1:argv.index("--manifests")], argv[argv.index("--manifests") + 1:]) \
        if "--manifests" in argv else (argv[1:], None)
    host = args[0]
    timeout = float(args[1]) if len(args) > 1 else 10.0
    https = probe(f"https://{host}/v2/", timeout)
    http = probe(f"http://{host}/v2/", timeout) if https["status"] == -1 else None
    answer = {"https": https, "http": http}
    if manifests and (http or https)["status"] == 200:
        base_url = ("http://" if http else "https://") + host
        repository, tags = manifests[0], manifests[1:]
        answer["manifests"] = {tag: manifest_digest(base_url, repository, tag, timeout) for tag in tags}
    print(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv)
