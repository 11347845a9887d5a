"""Docker fixtures. Without an engine these tests skip locally but FAIL in CI.

``CI=true`` means the machine was provisioned with a Docker engine (see
``.ci/run``); a missing engine there is a broken set-up, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

docker = pytest.importorskip("docker")


def _engine_or_reason() -> tuple[object | None, str]:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client, ""
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
        return None, f"no Docker engine reachable: {e}"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    client, reason = _engine_or_reason()
    if client is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}. .ci/run must install and start Docker.")
        pytest.skip(reason)
    yield client
    client.close()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/docker/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
