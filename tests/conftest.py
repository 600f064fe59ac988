"""Test-session setup: the workload cache (cimopt/onnx/cache.py) goes to a fresh temporary directory, so tests
never read or write the user's cache and every first import really runs the importer."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_workload_cache(tmp_path_factory):
    old = os.environ.get("CIMOPT_CACHE_DIR")
    os.environ["CIMOPT_CACHE_DIR"] = str(tmp_path_factory.mktemp("workload-cache"))
    yield
    if old is None:
        os.environ.pop("CIMOPT_CACHE_DIR", None)
    else:
        os.environ["CIMOPT_CACHE_DIR"] = old
