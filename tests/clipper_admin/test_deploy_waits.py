"""A deploy returns once its replicas serve: the first query after ``deploy`` + ``link`` is answered by the model.

Replicas that never connect make the deploy raise after ``timeout_s``,
saying how many connected and where to look. A ``create_endpoint`` whose
deploy fails leaves no application behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException
from clipper_admin.deployers import python as python_deployer
from clipper_admin._serving_wait import wait_until_serving
from clipper_admin.local import LocalContainerManager

pytestmark = pytest.mark.timeout(240)


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[ClipperConnection]:
    cm = LocalContainerManager(
        cluster_name="deploy-waits", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path / "cluster",
    )  # fmt: skip
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all(graceful=False)


def predict(conn: ClipperConnection, app: str, x: list[float]) -> dict[str, Any]:
    answer: dict[str, Any] = requests.post(f"http://{conn.get_query_addr()}/{app}/predict", json={"input": x},
                                           timeout=30).json()
    return answer


def test_the_first_query_after_create_endpoint_is_answered(conn: ClipperConnection) -> None:
    python_deployer.create_endpoint(conn, "sums", "doubles", feature_sum, default_output="-1", num_replicas=2)
    replicas = [r for r in conn.get_all_model_replicas(verbose=True) if r["model_name"] == "sums"]
    assert len(replicas) == 2
    assert predict(conn, "sums", [1.0, 2.5]) == {"query_id": 0, "output": 3.5, "default": False}


def test_replicas_that_never_connect_time_out_with_what_to_do(conn: ClipperConnection) -> None:
    # Registered, but no replica of it runs (as when its replicas hang while loading).
    conn.register_model("ghost", "1", "doubles", image="local:/nowhere")
    started = time.monotonic()
    with pytest.raises(ClipperException, match=r"Model ghost:1 is registered, but only 0 of its 2 replica\(s\) "
                                               r"connected to the query frontend within 2 s.*replica logs"):
        wait_until_serving(conn, "ghost", "1", 2, timeout_s=2)
    assert 2 <= time.monotonic() - started < 30
    wait_until_serving(conn, "ghost", "1", 0, timeout_s=2)  # nothing to wait for


def test_a_failed_create_endpoint_leaves_no_application(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="no-such-package-for-clipper-tests"):
        python_deployer.create_endpoint(conn, "needs-missing", "doubles", feature_sum,
                                        pkgs_to_install=["no-such-package-for-clipper-tests==1.0"])
    assert "needs-missing" not in conn.get_all_apps()
    assert not conn.get_all_models()
    models_dir = conn.cm.cluster_dir / "models"  # type: ignore[attr-defined]
    assert not [p for p in models_dir.rglob("*") if p.is_file()]
    # Nothing is left in the way: the same call works once the package is fixed.
    python_deployer.create_endpoint(conn, "needs-missing", "doubles", feature_sum)
    assert predict(conn, "needs-missing", [2.0, 3.0])["output"] == 5.0


def slow_first_call() -> Any:
    """A closure whose first call takes 3 s (a lazy model load), the rest are instant."""
    state: dict[str, bool] = {}

    def predict(xs: list[Any]) -> list[str]:
        if not state:
            time.sleep(3)
            state["loaded"] = True
        return [str(sum(x)) for x in xs]

    return predict


def test_a_warmup_batch_keeps_a_slow_first_call_from_the_first_query(conn: ClipperConnection) -> None:
    # An SLO far below the first call's 3 s: without a warm-up the first query gets the default.
    python_deployer.create_endpoint(conn, "lazy", "doubles", slow_first_call(), default_output="-1",
                                    slo_micros=500_000, warmup_inputs=[[0.0, 0.0]])
    assert predict(conn, "lazy", [1.0, 2.0]) == {"query_id": 0, "output": 3.0, "default": False}
    logs = conn.cm.cluster_dir / "logs"  # type: ignore[attr-defined]
    replica_log = "".join(p.read_text() for p in logs.glob("lazy_1-*.log"))
    assert "warm-up batch of 1 input(s) answered in" in replica_log


def test_warmup_inputs_that_do_not_fit_the_input_type_are_refused_before_anything_is_built(
        conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match=r"warmup_inputs\[0\] is not a valid doubles input"):
        python_deployer.create_endpoint(conn, "bad-warmup", "doubles", feature_sum, warmup_inputs=["text"])
    assert "bad-warmup" not in conn.get_all_apps()
    assert not conn.get_all_models()
