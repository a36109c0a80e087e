"""Make `ansible_collections.kubedev.devloop` importable for plain pytest runs of the unit tests.

ansible-test does this itself; from a checkout we use the link that scripts/setup creates, or make a
temporary one when setup has not run.
"""

import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _collections_dir():
    linked = ROOT / "collections"
    if (linked / "ansible_collections" / "kubedev" / "devloop" / "plugins").is_dir():
        return linked
    temp = pathlib.Path(tempfile.mkdtemp(prefix="kubedev-collections-"))
    (temp / "ansible_collections" / "kubedev").mkdir(parents=True)
    os.symlink(ROOT, temp / "ansible_collections" / "kubedev" / "devloop")
    return temp


try:
    import ansible_collections.kubedev.devloop.plugins.module_utils  # noqa: F401  (ansible-test's own tree)
except ImportError:
    sys.path.insert(0, str(_collections_dir()))


import pytest  # noqa: E402  (after the path set-up above)


@pytest.fixture(autouse=True)
def _no_credentials_remembered():
    """credentials.py remembers every credential of the process; one test's token must not mask another's
    messages."""
    from ansible_collections.kubedev.devloop.plugins.module_utils._k8s import credentials

    credentials.forget_all()
    yield
    credentials.forget_all()
