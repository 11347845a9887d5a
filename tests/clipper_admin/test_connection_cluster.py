"""Cluster lifecycle, addresses, errors and the connection requirement of ClipperConnection."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException, UnconnectedException, __registry__, __version__
from tests.support.ports import dead_port

if TYPE_CHECKING:
    from conftest import ProcessContainerManager

UNCONNECTED_MESSAGE = (
    "No connection to Clipper cluster. Call ClipperConnection.connect to connect to an existing cluster "
    "or ClipperConnnection.start_clipper to create a new one"
)


def test_start_clipper_starts_checks_health_and_connects(
    own_cluster_cm: ProcessContainerManager, caplog: pytest.LogCaptureFixture
) -> None:
    conn = ClipperConnection(own_cluster_cm)
    assert conn.connected is False
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.start_clipper(cache_size=1000)
    assert conn.connected is True
    assert "[test-cluster] Clipper is running" in caplog.messages
    assert own_cluster_cm.calls_to("start_clipper") == [dict(
        query_frontend_image=f"{__registry__}/query_frontend:{__version__}",
        mgmt_frontend_image=f"{__registry__}/management_frontend:{__version__}",
        frontend_exporter_image=f"{__registry__}/frontend-exporter:{__version__}",
        cache_size=1000, qf_http_thread_pool_size=1, qf_http_timeout_request=5,
        qf_http_timeout_content=300, num_frontend_replicas=1,
    )]
    # The cluster it started answers: register, inspect, stop.
    conn.register_application("hello-world", "doubles", "-1.0", 100000)
    assert conn.get_all_apps() == ["hello-world"]
    metrics = conn.inspect_instance()
    assert isinstance(metrics, dict) and metrics
    query_addr = conn.get_query_addr()
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.stop_all()
    assert "[test-cluster] Stopped all Clipper cluster and all model containers" in caplog.messages
    assert own_cluster_cm.calls_to("stop_all") == [{"graceful": True}]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{query_addr}/metrics", timeout=5)


def test_start_clipper_logs_and_reraises_manager_errors(
    own_cluster_cm: ProcessContainerManager, caplog: pytest.LogCaptureFixture
) -> None:
    own_cluster_cm.start_error = ClipperException("Cluster test-cluster cannot be started because it already exists.")
    conn = ClipperConnection(own_cluster_cm)
    with caplog.at_level(logging.WARNING, logger="clipper.admin"), pytest.raises(ClipperException) as e:
        conn.start_clipper()
    assert e.value is own_cluster_cm.start_error
    assert ("[test-cluster] Error starting Clipper: Cluster test-cluster cannot be started because it "
            "already exists.") in caplog.messages
    assert conn.connected is False


def test_start_clipper_gives_up_when_frontends_never_get_healthy(cm: ProcessContainerManager) -> None:
    with dead_port() as port:  # nothing listens there
        cm.query_addr_override = f"127.0.0.1:{port}"
        conn = ClipperConnection(cm)
        conn._health_check_timeout_s = 0.5
        with pytest.raises(requests.RequestException, match="^Clipper still initializing: \n "):
            conn.start_clipper()
    assert conn.connected is False


def test_connect_logs_query_address(cm: ProcessContainerManager, caplog: pytest.LogCaptureFixture) -> None:
    conn = ClipperConnection(cm)
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.connect()
    assert conn.connected
    assert f"[test-cluster] Successfully connected to Clipper cluster at {cm.get_query_addr()}" in caplog.messages


def test_addresses_come_from_the_container_manager(conn: ClipperConnection, cm: ProcessContainerManager) -> None:
    assert conn.get_query_addr() == cm.get_query_addr()
    assert conn.get_metric_addr() == "127.0.0.1:9090"


def test_inspect_instance_returns_json_dict(conn: ClipperConnection) -> None:
    metrics = conn.inspect_instance()
    assert {"counters", "histograms", "meters", "ratio_counters"} <= set(metrics)


def test_get_logs_creates_log_files(conn: ClipperConnection, tmp_path: Path) -> None:
    paths = conn.get_clipper_logs(logging_dir=str(tmp_path / "clipper_logs"))
    assert len(paths) >= 1
    assert all(os.path.isfile(p) for p in paths)


def test_error_status_becomes_clipper_exception_with_code_and_body(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException) as e:
        conn.unlink_model_from_app("ghost", "m")
    assert str(e.value) == "Received error status code: 400 and message: No app with name ghost exists."


def test_unreachable_management_frontend_says_what_to_do(cm: ProcessContainerManager) -> None:
    conn = ClipperConnection(cm)
    conn.connect()
    with dead_port() as port:
        dead = f"127.0.0.1:{port}"
        cm.admin_addr_override = dead
        with pytest.raises(ClipperException) as e:
            conn.get_all_apps()
    assert f"Could not reach the Clipper management frontend at {dead}" in str(e.value)
    assert "start_clipper()" in str(e.value) and "connect()" in str(e.value)


def test_unreachable_query_frontend_on_inspect(cm: ProcessContainerManager) -> None:
    conn = ClipperConnection(cm)
    conn.connect()
    with dead_port() as port:
        cm.query_addr_override = f"127.0.0.1:{port}"
        with pytest.raises(ClipperException, match="Could not reach the Clipper query frontend"):
            conn.inspect_instance()


# Every method the original guards with `if not self.connected: raise UnconnectedException()`.
GUARDED: list[tuple[str, tuple[Any, ...]]] = [
    ("register_application", ("app", "doubles", "-1.0", 100000)),
    ("unregister_application", ("app",)),
    ("delete_application", ("app",)),
    ("link_model_to_app", ("app", "m")),
    ("unlink_model_from_app", ("app", "m")),
    ("build_and_deploy_model", ("m", "1", "doubles", "/tmp", "base")),
    ("deploy_model", ("m", "1", "doubles", "img")),
    ("register_model", ("m", "1", "doubles")),
    ("get_current_model_version", ("m",)),
    ("get_num_replicas", ("m",)),
    ("set_num_replicas", ("m", 2)),
    ("get_all_apps", ()),
    ("get_app_info", ("app",)),
    ("get_linked_models", ("app",)),
    ("get_all_models", ()),
    ("get_model_info", ("m", "1")),
    ("get_all_model_replicas", ()),
    ("get_model_replica_info", ("m", "1", 0)),
    ("get_clipper_logs", ()),
    ("inspect_instance", ()),
    ("set_model_version", ("m", "1")),
    ("get_query_addr", ()),
    ("get_metric_addr", ()),
    ("stop_models", (["m"],)),
    ("stop_versioned_models", ({"m": ["1"]},)),
    ("stop_inactive_model_versions", (["m"],)),
    ("stop_all_model_containers", ()),
    ("_unregister_versioned_models", ({"m": ["1"]},)),
]


@pytest.mark.parametrize(("method", "args"), GUARDED, ids=[m for m, _ in GUARDED])
def test_methods_need_a_connection(cm: ProcessContainerManager, method: str, args: tuple[Any, ...]) -> None:
    conn = ClipperConnection(cm)
    with pytest.raises(UnconnectedException) as e:
        getattr(conn, method)(*args)
    assert str(e.value) == UNCONNECTED_MESSAGE
    assert e.value.message == UNCONNECTED_MESSAGE
    # Nothing reached the container manager or the management frontend.
    assert cm.calls == []


def test_methods_that_work_unconnected(cm: ProcessContainerManager, tmp_path: Path) -> None:
    conn = ClipperConnection(cm)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert conn.build_model("m", 1, str(model_dir), "base:1") == "packaged:m:1"
    conn.stop_all(graceful=False)
    assert [name for name, _ in cm.calls] == ["build_model", "stop_all"]
    assert cm.calls_to("stop_all") == [{"graceful": False}]
    assert conn.connected is False


def test_test_predict_function_connects_first(cm: ProcessContainerManager) -> None:
    conn = ClipperConnection(cm)
    assert conn.test_predict_function({"input": [1.0, 2.0]}, lambda xs: [str(sum(x)) for x in xs], "doubles") == [
        "3.0"
    ]
    assert conn.connected and cm.calls_to("connect") == [{}]


def test_cluster_adapter_prefixes_cluster_identifier(
    cm: ProcessContainerManager, caplog: pytest.LogCaptureFixture
) -> None:
    conn = ClipperConnection(cm)
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.logger.info("hello %s", "world")
    assert caplog.records[-1].getMessage() == "[test-cluster] hello world"
    assert caplog.records[-1].filename == "test_connection_cluster.py"
