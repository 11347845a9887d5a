"""A registered model version's code never changes: refused redeploys leave it (and the disk) alone.

On a local cluster serving ``m:1`` (a sum), a second deploy of ``m:1`` with
another function is refused with the management frontend's message, and
builds nothing; replicas added later still load the sum. A deploy whose
registration is refused only after its replicas started (two deploys
racing) takes those replicas and its build away again.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException
from clipper_admin.deployers import python as python_deployer
from clipper_admin.local import LocalContainerManager

pytestmark = pytest.mark.timeout(240)

APP = "sums"
REFUSED = "Received error status code: 400 and message: model with name 'm' and version '1' already exists"


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


def negated_sum(xs: list[Any]) -> list[str]:
    return [str(-sum(x) - 1000) for x in xs]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[ClipperConnection]:
    """A local cluster serving app ``sums`` with model ``m:1`` = feature_sum."""
    cm = LocalContainerManager(
        cluster_name="immutable", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path / "cluster",
    )  # fmt: skip
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        connection.register_application(APP, "doubles", "-1.0", 5000000)
        python_deployer.deploy_python_closure(connection, "m", 1, "doubles", feature_sum)
        connection.link_model_to_app(APP, "m")
        yield connection
    finally:
        connection.stop_all(graceful=False)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _models_dir(conn: ClipperConnection) -> Path:
    cm = conn.cm
    assert isinstance(cm, LocalContainerManager)
    return cm.cluster_dir / "models"


def _answers(conn: ClipperConnection, count: int = 90) -> list[tuple[float, float]]:
    """``count`` queries with distinct inputs (no cache hits), 6 at a time: (expected sum, output)."""
    url = f"http://{conn.get_query_addr()}/{APP}/predict"

    def one(i: int) -> tuple[float, float]:
        x = [float(i), 0.5]
        body = requests.post(url, json={"input": x}, timeout=30).json()
        assert body["default"] is False, body
        return sum(x), float(body["output"])

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, range(count)))


def _wait_served(conn: ClipperConnection) -> None:
    deadline = time.monotonic() + 60
    url = f"http://{conn.get_query_addr()}/{APP}/predict"
    while requests.post(url, json={"input": [1.0, 2.0]}, timeout=30).json().get("default") is not False:
        assert time.monotonic() < deadline, "m:1 never answered"
        time.sleep(0.2)


def _replica_model_paths(conn: ClipperConnection) -> list[str]:
    cm = conn.cm
    assert isinstance(cm, LocalContainerManager)
    paths = []
    for status in cm.process_status():
        if status.model == "m:1":
            env = Path(f"/proc/{status.pid}/environ").read_bytes().split(b"\0")
            paths += [e.decode().split("=", 1)[1] for e in env if e.startswith(b"CLIPPER_MODEL_PATH=")]
    return paths


def test_refused_redeploy_changes_nothing_and_new_replicas_serve_the_original(
    conn: ClipperConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wait_served(conn)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))  # where the deployer serializes the function
    registered = conn.get_model_info("m", 1)
    assert registered is not None
    original_dir = Path(registered["container_name"].removeprefix("local:"))
    original_pickle = (original_dir / "func.pkl").read_bytes()
    files_before = _files(_models_dir(conn))

    with pytest.raises(ClipperException) as refused:
        python_deployer.deploy_python_closure(conn, name="m", version=1, input_type="doubles", func=negated_sum)
    assert str(refused.value) == REFUSED
    assert conn.get_num_replicas("m", 1) == 1

    conn.set_num_replicas("m", 3)
    assert conn.get_num_replicas("m", 1) == 3
    deadline = time.monotonic() + 60
    while len(conn.get_all_model_replicas()) < 3:
        assert time.monotonic() < deadline, conn.get_all_model_replicas()
        time.sleep(0.2)
    wrong = [(expected, got) for expected, got in _answers(conn) if got != expected]
    assert wrong == [], f"answers not from the registered sum: {wrong[:5]}"
    # Every replica loads the registered build, unchanged; the refused call
    # built nothing, left nothing behind and changed no registration.
    assert _replica_model_paths(conn) == [str(original_dir)] * 3
    assert (original_dir / "func.pkl").read_bytes() == original_pickle
    assert _files(_models_dir(conn)) == files_before
    assert list(temp_root.iterdir()) == []
    assert conn.get_model_info("m", 1) == registered


def test_deploy_model_of_a_registered_version_starts_no_replica(conn: ClipperConnection, tmp_path: Path) -> None:
    data = tmp_path / "other"
    data.mkdir()
    (data / "func.pkl").write_bytes(b"never loaded")
    with pytest.raises(ClipperException) as refused:
        conn.build_model("m", 1, str(data), "default")
    assert str(refused.value) == REFUSED
    assert len(list((_models_dir(conn) / "m" / "1").iterdir())) == 1  # the registered build only
    with pytest.raises(ClipperException) as refused:
        conn.deploy_model("m", 1, "doubles", "clipper/noop-container:develop", num_replicas=3)
    assert str(refused.value) == REFUSED
    assert conn.get_num_replicas("m", 1) == 1


def test_a_deploy_refused_at_registration_takes_its_replicas_and_build_away(
    conn: ClipperConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deploys of one version racing: both pass the check, the second one's registration is refused."""
    _wait_served(conn)
    files_before = _files(_models_dir(conn))
    monkeypatch.setattr(conn, "_refuse_registered_version", lambda name, version: None, raising=False)
    with pytest.raises(ClipperException) as refused:
        python_deployer.deploy_python_closure(conn, "m", 1, "doubles", negated_sum, num_replicas=2)
    assert str(refused.value) == REFUSED
    assert conn.get_num_replicas("m", 1) == 1  # the racing deploy's replica is gone
    assert _files(_models_dir(conn)) == files_before  # and so is its build
    wrong = [(expected, got) for expected, got in _answers(conn, 30) if got != expected]
    assert wrong == []
