"""API objects recorded from the test cluster (kube-apiserver v1.37 JSON, managedFields removed)."""

import copy
import json
import pathlib

import pytest

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def recorded():
    cache = {}

    def load(name, key):
        if name not in cache:
            cache[name] = json.loads((FIXTURES / (name + ".json")).read_text())
        return copy.deepcopy(cache[name][key])

    return load
