"""Fixtures shared by the contract suites' real implementations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stellars.adapters.docker import DockerEngine


@pytest.fixture
def docker_engine(docker_client) -> Iterator[DockerEngine]:
    """The adapters' view of the test engine: a bounded pool, closed after the test."""
    engine = DockerEngine(docker_client, max_workers=4, timeout_seconds=30)
    try:
        yield engine
    finally:
        engine.close()
