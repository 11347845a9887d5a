"""A real cluster (Redis, query and management frontends) for the security tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(redis_instance: Any, tmp_path: Path) -> Iterator[Cluster]:
    """Running frontends on a fresh Redis; app ``a`` not yet created."""
    with Cluster(tmp_path, redis_instance.port).running() as c:
        yield c
