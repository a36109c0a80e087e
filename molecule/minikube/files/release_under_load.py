#!/usr/bin/env python3
"""The tutorial's dev loop under traffic: GET the app's URL in a loop (a fresh connection each time)
while `ansible-playbook playbooks/release.yml` rolls out an edited app, until 20 answers in a row come
from the new version. Prints one JSON object: every request's outcome summarised, release.yml's exit
code and the tail of its output, and how long it took.

  release_under_load.py URL NEW_VERSION EXTRA_VARS_JSON PROJECT_DIR
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

VERSION = re.compile(r'<span id="version">([^<]*)</span>')
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the node


def get(url):
    try:
        with OPENER.open(url, timeout=5) as response:
            match = VERSION.search(response.read().decode())
            return response.status, match.group(1) if match else None
    except urllib.error.HTTPError as err:
        return err.code, None
    except OSError as err:
        return None, repr(err)


def main():
    url, new_version, extra_vars, project = sys.argv[1:5]
    results, stop = [], threading.Event()

    def loop():
        while not stop.is_set() and len(results) < 50000:
            results.append(get(url))
            time.sleep(0.02)

    # the page must answer before the release starts: the check is about the release, not a cold app
    deadline = time.monotonic() + 180
    while [get(url)[0] for _ in range(5)] != [200] * 5:
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not answer 200 five times in a row within 180 s")
        time.sleep(1)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    while len(results) < 5:
        time.sleep(0.05)
    start = time.monotonic()
    # as a user runs it from the checkout: the project's ansible.cfg and inventory, not molecule's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    release = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/release.yml", "-e", extra_vars],
        cwd=project, env=env, capture_output=True, text=True,
    )
    release_seconds = time.monotonic() - start
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and [v for _, v in results[-20:]] != [new_version] * 20:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=30)
    failed = [r for r in results if r[0] != 200]
    print(json.dumps({
        "requests": len(results),
        "failed": len(failed),
        "failed_examples": failed[:5],
        "first_version": results[0][1],
        "versions": sorted({v for s, v in results if s == 200 and v}),
        "last_versions": [v for _, v in results[-20:]],
        "release_rc": release.returncode,
        "release_seconds": round(release_seconds, 1),
        "release_tail": (release.stdout + release.stderr)[-3000:],
    }))


if __name__ == "__main__":
    main()
