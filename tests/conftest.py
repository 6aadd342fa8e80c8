"""Shared pytest fixtures: seeds that are explicit and printed on failure."""

import os
import zlib

import pytest


@pytest.fixture
def seed(request):
    """Random-stimulus seed: ``SYSTOLIX_SEED`` if set, else a stable hash of the test's id.

    It is printed, so a failing test's output names the seed to rerun it with.
    """
    value = int(os.environ.get("SYSTOLIX_SEED", "0")) or zlib.crc32(request.node.nodeid.encode())
    print(f"seed={value}")
    return value
