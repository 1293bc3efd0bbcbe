"""A real two-node Ray cluster on this machine, started once per test session
(``roar.ray.localcluster``: `ray start --head` plus a second `ray start --address`, each with its
own temp dir, one CPU, a small object store, no dashboard; stopped by their process groups, never
`ray stop`). Set ROAR_TEST_RAY_ADDRESS to use a cluster already running instead."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The cluster's address."""
    pytest.importorskip("ray")
    existing = os.environ.get("ROAR_TEST_RAY_ADDRESS")
    if existing:
        yield existing
        return
    from roar.ray import localcluster

    cluster = localcluster.start()
    try:
        yield cluster.address
    finally:
        cluster.stop()
