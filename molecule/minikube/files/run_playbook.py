#!/usr/bin/env python3
"""Run a playbook as a user runs it from the checkout (the project's ansible.cfg and inventory, not
molecule's) and print one JSON object: exit code, changed count of the recap, seconds, output tail.

  run_playbook.py PLAYBOOK EXTRA_VARS_JSON PROJECT_DIR
"""

import json
import os
import re
import subprocess
import sys
import time


def main():
    playbook, extra_vars, project = sys.argv[1:4]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    start = time.monotonic()
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook, "-e", extra_vars],
        cwd=project, env=env, capture_output=True, text=True,
    )
    output = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)
    print(json.dumps({
        "rc": proc.returncode,
        "changed": int(recap.group(1)) if recap else None,
        "seconds": round(time.monotonic() - start, 1),
        "tail": output[-3000:],
    }))


if __name__ == "__main__":
    main()
