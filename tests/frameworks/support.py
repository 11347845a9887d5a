"""Helpers of the framework tests: data, REST queries, one cluster per module."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import requests

from clipper_admin import ClipperConnection, DockerContainerManager
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.redis_server import free_port

SLO_MICROS = 5_000_000



def digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: features (float64, 0..16) and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(np.int64)
    return (x, y) if n is None else (x[:n], y[:n])


def query(conn: ClipperConnection, app: str, rows: np.ndarray, version: str | None = None) -> list[Any]:
    """One REST request (``input`` for one row, ``input_batch`` for more); the outputs, None for defaults."""
    body: dict[str, Any] = {"input": rows[0].tolist()} if len(rows) == 1 else {"input_batch": rows.tolist()}
    if version is not None:
        body["version"] = version
    r = requests.post(f"http://{conn.get_query_addr()}/{app}/predict", json=body, timeout=30)
    r.raise_for_status()
    answers = [r.json()] if len(rows) == 1 else r.json()["batch_predictions"]
    return [None if a.get("default", True) else a["output"] for a in answers]


def served(conn: ClipperConnection, app: str, rows: np.ndarray, expected: list[Any] | None = None,
           timeout: float = 120) -> list[Any]:
    """The outputs once none is a default (and, given ``expected``, once they equal it: a switch is live)."""
    deadline = time.monotonic() + timeout
    while True:
        outputs = query(conn, app, rows)
        if None not in outputs and (expected is None or outputs == expected):
            return outputs
        assert time.monotonic() < deadline, f"{app}: {outputs} (expected {expected})"
        time.sleep(0.3)


def local_cluster(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[ClipperConnection]:
    manager = LocalContainerManager(
        cluster_name=name, clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0, redis_port=0,
        prometheus_port=None,
        cluster_dir=tmp_path_factory.mktemp("local") / "cluster",
    )  # fmt: skip
    connection = ClipperConnection(manager)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all(graceful=False)


def docker_cluster(client: Any, images_needed: list[str], require: Callable[[str], Any]) -> Iterator[ClipperConnection]:
    for ref in images_needed:
        require(ref)
    name = f"fw-{uuid.uuid4().hex[:6]}"
    manager = DockerContainerManager(
        cluster_name=name, clipper_query_port=free_port(), clipper_management_port=free_port(),
        clipper_rpc_port=free_port(), redis_port=free_port(), prometheus_port=free_port(),
        docker_network=f"{name}-net",
    )  # fmt: skip
    connection = ClipperConnection(manager)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all()
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(f"{name}-"):
                    client.images.remove(tag, force=True)
