"""Shared pytest fixtures: seeds that are explicit and printed on failure."""

import os

import pytest


@pytest.fixture
def seed(request):
    """Seed for random stimulus: ``SYSTOLIX_SEED`` or a stable per-test value, reported on failure."""
    value = int(os.environ.get("SYSTOLIX_SEED", "0")) or (hash(request.node.nodeid) & 0x7FFFFFFF)
    request.node.user_properties.append(("seed", value))
    print(f"seed={value}")
    return value
