"""The reliability cluster: real Redis, query and management frontends, replicas.

Settings (``tests/load/params.py``): heartbeat 0.25 s, dead after 1 s, app
``a`` with a 100 ms SLO and default output ``"DEFAULT"`` linked to model
``m`` version 1. Replicas are started by each test (``cluster.start_replica``)
so it can choose their faults.
"""

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


@pytest.fixture
def secret_cluster(redis_instance: Any, tmp_path: Path) -> Iterator[Cluster]:
    """Like ``cluster``, with the query frontend requiring an RPC secret."""
    with Cluster(tmp_path, redis_instance.port, rpc_secret="s3cret-for-tests").running() as c:
        yield c
