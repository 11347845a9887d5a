"""Fixtures: a raw-frames fake frontend and containers run as threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.model_containers.mc_fake_frontend import FakeFrontend

from clipper_service.supervisor import RestartPolicy
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService

RunContainer = Callable[..., RPCService]


@pytest.fixture
def frontend() -> Iterator[FakeFrontend]:
    fe = FakeFrontend()
    try:
        yield fe
    finally:
        fe.close()


@pytest.fixture
def run_container(frontend: FakeFrontend, tmp_path: Path) -> Iterator[RunContainer]:
    """Start ``RPCService(...).start(model, **settings)`` in a thread, connected to ``frontend``.

    The environment is ignored (``read_config=False``); settings default to a
    fast heartbeat and no metrics server. Stopped and joined at teardown.
    """
    running: list[tuple[RPCService, threading.Thread]] = []

    def run(
        model: ModelContainerBase,
        collect_metrics: bool = False,
        restart_policy: RestartPolicy | None = None,
        **overrides: Any,
    ) -> RPCService:
        service = RPCService(collect_metrics=collect_metrics, read_config=False, restart_policy=restart_policy)
        settings: dict[str, Any] = {
            "model_name": "m",
            "model_version": "1",
            "host": "localhost",
            "port": frontend.port,
            "input_type": "doubles",
            "heartbeat_interval_ms": 100,
            "metrics_port": 0,
            "ready_file": str(tmp_path / f"ready-{len(running)}"),
        }
        settings.update(overrides)
        thread = threading.Thread(target=service.start, args=(model,), kwargs=settings, daemon=True)
        thread.start()
        running.append((service, thread))
        assert service.serving.wait(10), "container did not start serving"
        return service

    yield run
    for service, _ in running:
        service.stop()
    for _, thread in running:
        thread.join(15)
        assert not thread.is_alive(), "container thread did not stop"
