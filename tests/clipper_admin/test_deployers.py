"""The python deployer: serialization (local modules by value), packaging, deployment, serving."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import cloudpickle
import pytest

from clipper_admin import ClipperConnection, ClipperException, UnconnectedException, __registry__, __version__
from clipper_admin.deployers import python as python_deployer
from clipper_admin.deployers.deployer_utils import local_modules, save_python_function, serialize_object

if TYPE_CHECKING:
    from conftest import ProcessContainerManager


@pytest.fixture
def local_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A user project in the working directory: a model module importing a helper module."""
    project = tmp_path / "project"
    project.mkdir()
    tag = uuid.uuid4().hex[:8]
    helper, model = f"helpers_{tag}", f"model_{tag}"
    (project / f"{helper}.py").write_text(textwrap.dedent("""
        SCALE = 10

        def featurize(x):
            return float(sum(x)) * SCALE
    """))
    (project / f"{model}.py").write_text(textwrap.dedent(f"""
        import {helper} as helpers

        def predict(xs):
            return [str(helpers.featurize(x)) for x in xs]
    """))
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    try:
        yield importlib.import_module(model)
    finally:
        sys.modules.pop(model, None)
        sys.modules.pop(helper, None)


def load_and_call_elsewhere(pkl: Path, cwd: Path, arg: str) -> subprocess.CompletedProcess[str]:
    """Unpickle ``pkl`` in a fresh interpreter that cannot import the project, and call it."""
    code = f"import cloudpickle; f = cloudpickle.load(open({str(pkl)!r}, 'rb')); print(f({arg}))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


def test_save_python_function_ships_local_modules_by_value(local_project: ModuleType, tmp_path: Path) -> None:
    before = cloudpickle.list_registry_pickle_by_value()
    serialization_dir = save_python_function("m", local_project.predict)
    try:
        assert serialization_dir.endswith("clipper") and os.path.isabs(serialization_dir)
        assert os.listdir(serialization_dir) == ["func.pkl"]
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        result = load_and_call_elsewhere(Path(serialization_dir) / "func.pkl", elsewhere, "[[1.0, 2.0], [0.5]]")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['30.0', '5.0']"
    finally:
        shutil.rmtree(serialization_dir)
    # The by-value registrations were undone.
    assert cloudpickle.list_registry_pickle_by_value() == before
    # Control: pickled by reference, the same function cannot be loaded there.
    by_ref = tmp_path / "by_ref.pkl"
    by_ref.write_bytes(cloudpickle.dumps(local_project.predict))
    control = load_and_call_elsewhere(by_ref, tmp_path / "elsewhere", "[[1.0]]")
    assert control.returncode != 0 and "ModuleNotFoundError" in control.stderr


def test_only_project_modules_travel_by_value(local_project: ModuleType) -> None:
    names = {m.__name__ for m in local_modules()}
    assert local_project.__name__ in names
    assert local_project.helpers.__name__ in names
    for installed in ("numpy", "cloudpickle", "json", "clipper_admin", "clipper_admin.deployers.python", "pytest"):
        assert installed not in names
    # Installed packages stay references: the pickle of a numpy-using function stays small.
    import numpy as np

    assert len(serialize_object(lambda xs: np.asarray(xs).sum())) < 2000


def test_deploy_python_closure_packages_builds_and_deploys(
    conn: ClipperConnection, cm: ProcessContainerManager, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        python_deployer.deploy_python_closure(
            conn, name="sum-model", version=1, input_type="doubles", func=feature_sum,
            labels=["l1"], registry="registry.example:5000", num_replicas=1, batch_size=2, pkgs_to_install=["six"],
        )
    (build,) = cm.calls_to("build_model")
    expected_image = f"{__registry__}/python{sys.version_info[0]}{sys.version_info[1]}-closure-container:{__version__}"
    assert build["base_image"] == expected_image
    assert expected_image.startswith("clipper/python3") or __registry__ != "clipper"
    assert build == dict(name="sum-model", version="1", model_data_path=build["model_data_path"],
                         base_image=expected_image, container_registry="registry.example:5000",
                         pkgs_to_install=["six"])
    # The serialization directory is gone once deployed.
    assert not os.path.exists(build["model_data_path"])
    assert cm.calls_to("deploy_model") == [dict(
        name="sum-model", version="1", input_type="doubles", image="packaged:sum-model:1", num_replicas=1)]
    info = conn.get_model_info("sum-model", 1)
    assert info is not None and info["container_name"] == "packaged:sum-model:1" and info["labels"] == ["l1"]
    messages = caplog.messages
    assert "Python closure saved" in messages
    assert f"Using Python {sys.version_info[0]}.{sys.version_info[1]} base image" in messages
    assert "Serialized and supplied predict function" in messages


def test_quickstart_sum_model_serves_predictions(
    conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any],
    query: Callable[..., dict[str, Any]],
) -> None:
    # The quickstart, verbatim but for the container manager.
    conn.register_application(name="hello-world", input_type="doubles", default_output="-1.0", slo_micros=100000)
    python_deployer.deploy_python_closure(conn, name="sum-model", version=1, input_type="doubles", func=feature_sum)
    conn.link_model_to_app(app_name="hello-world", model_name="sum-model")
    result = poll(
        lambda: (r := query(conn.get_query_addr(), "hello-world", {"input": [1.1, 2.2, 3.3]}))["default"] is False
        and r,
        timeout_s=60, what="a non-default prediction",
    )
    assert float(result["output"]) == pytest.approx(6.6)


def test_create_endpoint_with_local_helper_module(
    conn: ClipperConnection, cm: ProcessContainerManager, local_project: ModuleType,
    poll: Callable[..., Any], query: Callable[..., dict[str, Any]],
) -> None:
    python_deployer.create_endpoint(conn, "scaled-sum", "doubles", local_project.predict, default_output="DEFAULT")
    assert conn.get_app_info("scaled-sum") == {
        "name": "scaled-sum", "input_type": "doubles", "default_output": "DEFAULT",
        "latency_slo_micros": 3000000, "linked_models": ["scaled-sum"],
    }
    assert conn.get_current_model_version("scaled-sum") == "1"
    result = poll(
        lambda: (r := query(conn.get_query_addr(), "scaled-sum", {"input_batch": [[1.0, 2.0], [0.5]]}))
        .get("batch_predictions") and all(not p["default"] for p in r["batch_predictions"]) and r,
        timeout_s=60, what="non-default batch predictions",
    )
    assert [p["output"] for p in result["batch_predictions"]] == [30.0, 5.0]


def test_unpicklable_function_is_refused_before_anything_is_built(
    conn: ClipperConnection, cm: ProcessContainerManager
) -> None:
    lock = threading.Lock()

    def predict(xs: list[Any]) -> list[str]:
        with lock:
            return [str(x) for x in xs]

    with pytest.raises(ClipperException) as e:
        python_deployer.deploy_python_closure(conn, "locked", 1, "doubles", predict)
    assert "Could not serialize the prediction function" in str(e.value) and "locked:1" in str(e.value)
    assert cm.calls_to("build_model") == [] and conn.get_all_models() == []


def test_not_callable_is_refused(conn: ClipperConnection, cm: ProcessContainerManager) -> None:
    with pytest.raises(ClipperException, match="func must be callable, got int"):
        python_deployer.deploy_python_closure(conn, "m", 1, "doubles", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "version", "bad"), [("Sum_Model", 1, "Sum_Model"), ("sum", "1.0", "1.0")])
def test_invalid_name_or_version_is_refused_first(
    cm: ProcessContainerManager, name: str, version: Any, bad: str
) -> None:
    conn = ClipperConnection(cm)  # unconnected: validation comes before anything else
    with pytest.raises(ClipperException, match=f"^Invalid value: {bad}: a model "):
        python_deployer.deploy_python_closure(conn, name, version, "doubles", feature_sum)
    assert cm.calls == []


def test_deploy_needs_a_connection_and_cleans_up(
    cm: ProcessContainerManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    conn = ClipperConnection(cm)
    with pytest.raises(UnconnectedException):
        python_deployer.deploy_python_closure(conn, "m", 1, "doubles", feature_sum)
    assert list(temp_root.iterdir()) == []  # the serialization dir was removed
