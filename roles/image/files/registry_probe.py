"""Ask a registry for its API version check (GET /v2/) from the target host, as Docker reaches an insecure
registry: https first (certificate not checked), then http when https got no HTTP answer at all. Prints JSON:
{"https": {"status", "reason"}, "http": {"status", "reason"} or null}; status is the HTTP status, or -1 with the
reason there was none ("Connection refused", "[SSL: WRONG_VERSION_NUMBER] wrong version number", "timed out").

One small script instead of two ansible.builtin.uri tasks: on every release this saves two module start-ups.

Usage: registry_probe.py HOST[:PORT] [TIMEOUT_SECONDS]
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


def probe(url, timeout):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return {"status": response.status, "reason": ""}
    except urllib.error.HTTPError as error:  # an HTTP answer, only not a 2xx one (401: a login is wanted)
        return {"status": error.code, "reason": ""}
    except urllib.error.URLError as error:
        return {"status": -1, "reason": NOISE.sub("", str(error.reason))}
    except (socket.timeout, TimeoutError):
        return {"status": -1, "reason": "timed out"}
    except (OSError, ValueError) as error:  # a reset connection, a malformed answer, an invalid port
        return {"status": -1, "reason": NOISE.sub("", str(error)) or type(error).__name__}


def main(argv):
    host = argv[1]
    timeout = float(argv[2]) if len(argv) > 2 else 10.0
    https = probe(f"https://{host}/v2/", timeout)
    http = probe(f"http://{host}/v2/", timeout) if https["status"] == -1 else None
    print(json.dumps({"https": https, "http": http}))


if __name__ == "__main__":
    main(sys.argv)
