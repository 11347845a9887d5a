"""LocalContainerManager model replicas: packaging, deploy, scale, crash, stop.

One real cluster (Redis, both frontends) serves the whole module; replicas
are real ``model_containers`` processes connecting to its query frontend.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import requests

from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager

pytestmark = pytest.mark.timeout(180)

NOOP_IMAGE = "clipper/noop-container:develop"
CLOSURE_IMAGE = "clipper/python311-closure-container:develop"


@pytest.fixture(scope="module")
def cm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalContainerManager]:
    manager = LocalContainerManager(
        cluster_name="models", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path_factory.mktemp("local") / "cluster",
    )  # fmt: skip
    manager.start_clipper()
    try:
        yield manager
    finally:
        manager.stop_all(graceful=False)


@pytest.fixture(autouse=True)
def _no_replicas_left(cm: LocalContainerManager) -> Iterator[None]:
    yield
    cm.stop_all_model_containers()


def closure_dir(tmp_path: Path, func: Callable[..., Any] | None = None, payload: bytes | None = None) -> str:
    d = tmp_path / "model-data"
    d.mkdir()
    (d / "func.pkl").write_bytes(payload if payload is not None else cloudpickle.dumps(func))
    return str(d)


def replicas(cm: LocalContainerManager, model: str) -> list[Any]:
    return [s for s in cm.process_status() if s.model == model]


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def admin(cm: LocalContainerManager, endpoint: str, body: dict[str, Any]) -> Any:
    r = requests.post(f"http://{cm.get_admin_addr()}/admin/{endpoint}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r


def test_noop_replicas_scale_up_and_down(cm: LocalContainerManager, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="clipper.local")
    cm.deploy_model("noop", "1", "doubles", NOOP_IMAGE, num_replicas=2)
    assert cm.get_num_replicas("noop", "1") == 2
    assert "Found 0 replicas for noop:1. Adding 2" in caplog.text
    first = replicas(cm, "noop:1")
    assert [Path(s.log).name for s in first] == ["noop_1-1.log", "noop_1-2.log"]
    env = environ_of(first[0].pid)
    assert env["CLIPPER_MODEL_NAME"] == "noop" and env["CLIPPER_MODEL_VERSION"] == "1"
    assert env["CLIPPER_IP"] == "127.0.0.1" and env["CLIPPER_PORT"] == str(cm.clipper_rpc_port)
    assert env["CLIPPER_INPUT_TYPE"] == "doubles"
    assert env["CLIPPER_READY_FILE"].endswith("noop_1-1.ready")
    assert env["CLIPPER_METRICS_PORT"] != environ_of(first[1].pid)["CLIPPER_METRICS_PORT"]

    cm.set_num_replicas("noop", "1", "doubles", NOOP_IMAGE, 3)
    assert cm.get_num_replicas("noop", "1") == 3
    assert "Found 2 replicas for noop:1. Adding 1" in caplog.text
    cm.set_num_replicas("noop", "1", "doubles", NOOP_IMAGE, 1)
    assert cm.get_num_replicas("noop", "1") == 1
    remaining = replicas(cm, "noop:1")
    assert [s.name for s in remaining] == ["noop_1-1"]
    assert all(pid_gone(s.pid) for s in first[1:])

    # The replicas really serve through the query frontend.
    admin(cm, "add_app", {"name": "noop-app", "input_type": "doubles", "default_output": "-1", "latency_slo_micros": 2000000})
    admin(cm, "add_model", {"model_name": "noop", "model_version": "1", "labels": [], "input_type": "doubles",
                            "container_name": NOOP_IMAGE, "model_data_path": "DEPRECATED", "batch_size": -1})  # fmt: skip
    admin(cm, "add_model_links", {"app_name": "noop-app", "model_names": ["noop"]})
    deadline = time.monotonic() + 30
    while True:
        r = requests.post(f"http://{cm.get_query_addr()}/noop-app/predict", json={"input": [1.0]}, timeout=10)
        if r.json().get("default") is False:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.json()["output"] == 1.0


def test_closure_model_is_packaged_and_served(cm: LocalContainerManager, tmp_path: Path) -> None:
    image = cm.build_model("adder", "2", closure_dir(tmp_path, lambda xs: [str(sum(x)) for x in xs]), CLOSURE_IMAGE)
    model_dir = Path(image.removeprefix("local:"))
    assert image.startswith("local:") and model_dir.parent == cm.cluster_dir / "models" / "adder" / "2"
    assert (model_dir / "func.pkl").exists() and (model_dir / "local-image.json").exists()
    cm.deploy_model("adder", "2", "doubles", image)
    (replica,) = replicas(cm, "adder:2")
    assert environ_of(replica.pid)["CLIPPER_MODEL_PATH"] == str(model_dir)
    admin(cm, "add_app", {"name": "adder-app", "input_type": "doubles", "default_output": "-1", "latency_slo_micros": 2000000})
    admin(cm, "add_model", {"model_name": "adder", "model_version": "2", "labels": [], "input_type": "doubles",
                            "container_name": image, "model_data_path": "DEPRECATED", "batch_size": -1})  # fmt: skip
    admin(cm, "add_model_links", {"app_name": "adder-app", "model_names": ["adder"]})
    deadline = time.monotonic() + 30
    while True:
        r = requests.post(f"http://{cm.get_query_addr()}/adder-app/predict", json={"input": [1.5, 2.0]}, timeout=10)
        if r.json().get("default") is False:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.json()["output"] == 3.5


def test_rebuilding_a_model_makes_a_new_build_and_leaves_the_old_one_alone(cm: LocalContainerManager,
                                                                          tmp_path: Path) -> None:
    src = Path(closure_dir(tmp_path, lambda xs: xs))
    (src / "old.txt").write_text("old")
    first = Path(cm.build_model("rebuilt", "1", str(src), CLOSURE_IMAGE).removeprefix("local:"))
    (src / "old.txt").unlink()
    second = Path(cm.build_model("rebuilt", "1", str(src), CLOSURE_IMAGE).removeprefix("local:"))
    assert first != second and first.parent == second.parent
    assert not (second / "old.txt").exists() and (second / "func.pkl").exists()
    # Replicas of the first build may be running from it: it is never touched.
    assert (first / "old.txt").read_text() == "old" and (first / "local-image.json").exists()
    # No staging directory is left next to the builds.
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, second.name])


def test_a_failed_build_leaves_no_directory(cm: LocalContainerManager, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(ClipperException, match="pip install failed"):
        cm.build_model("failing", "1", closure_dir(tmp_path, lambda xs: xs), CLOSURE_IMAGE,
                       pkgs_to_install=["clipper-no-such-package-zz"])  # fmt: skip
    assert not (cm.cluster_dir / "models" / "failing").exists()


def test_discard_model_stops_that_builds_replicas_and_removes_it(cm: LocalContainerManager, tmp_path: Path) -> None:
    kept = cm.build_model("undone", "1", closure_dir(tmp_path, lambda xs: xs), CLOSURE_IMAGE)
    cm.deploy_model("undone", "1", "doubles", kept)
    (tmp_path / "model-data").rename(tmp_path / "first-data")
    doomed = cm.build_model("undone", "1", closure_dir(tmp_path, lambda xs: xs), CLOSURE_IMAGE)
    cm.set_num_replicas("undone", "1", "doubles", doomed, 2)  # one more, from the other build
    (survivor,) = [s for s in replicas(cm, "undone:1") if s.name == "undone_1-1"]
    cm.discard_model("undone", "1", doomed)
    assert [s.name for s in replicas(cm, "undone:1")] == [survivor.name]
    assert not Path(doomed.removeprefix("local:")).exists()
    assert Path(kept.removeprefix("local:")).is_dir()
    cm.discard_model("undone", "1", "clipper/noop-container:develop")  # not packaged here: nothing to remove
    assert Path(kept.removeprefix("local:")).is_dir()


def test_crashed_replica_is_reported_and_not_counted(cm: LocalContainerManager, caplog: pytest.LogCaptureFixture) -> None:
    cm.deploy_model("crashy", "1", "doubles", NOOP_IMAGE, num_replicas=2)
    victim = replicas(cm, "crashy:1")[0]
    last_line = Path(victim.log).read_text().strip().splitlines()[-1]
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    with caplog.at_level(logging.WARNING, logger="clipper.local"):
        while cm.get_num_replicas("crashy", "1") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert f"Model replica {victim.name} (pid {victim.pid}) exited with code -9" in caplog.text
    assert last_line in caplog.text
    assert [s.name for s in replicas(cm, "crashy:1")] == ["crashy_1-2"]
    # Scaling back up replaces it under a new name (logs are never reused).
    cm.set_num_replicas("crashy", "1", "doubles", NOOP_IMAGE, 2)
    assert [s.name for s in replicas(cm, "crashy:1")] == ["crashy_1-2", "crashy_1-3"]


def test_replica_failing_at_start_raises_with_its_log(cm: LocalContainerManager, tmp_path: Path) -> None:
    image = cm.build_model("broken", "1", closure_dir(tmp_path, payload=b"this is not a pickle"), CLOSURE_IMAGE)
    with pytest.raises(ClipperException) as e:
        cm.deploy_model("broken", "1", "doubles", image)
    message = str(e.value)
    assert "Model replica broken_1-1" in message and "exited with code" in message
    assert "broken_1-1.log" in message
    assert cm.get_num_replicas("broken", "1") == 0


def test_stop_models_and_stop_all_model_containers(cm: LocalContainerManager) -> None:
    cm.deploy_model("m-a", "1", "doubles", NOOP_IMAGE)
    cm.deploy_model("m-a", "2", "doubles", NOOP_IMAGE)
    cm.deploy_model("m-b", "1", "doubles", NOOP_IMAGE)
    stopped = replicas(cm, "m-a:1")
    cm.stop_models({"m-a": ["1"]})
    assert cm.get_num_replicas("m-a", "1") == 0 and all(pid_gone(s.pid) for s in stopped)
    assert cm.get_num_replicas("m-a", "2") == 1 and cm.get_num_replicas("m-b", "1") == 1
    cm.stop_all_model_containers()
    assert [s for s in cm.process_status() if s.role == "model"] == []
    assert {s.role for s in cm.process_status()} == {"redis", "management_frontend", "query_frontend"}


def test_get_logs_includes_replicas(cm: LocalContainerManager, tmp_path: Path) -> None:
    cm.deploy_model("logged", "1", "doubles", NOOP_IMAGE)
    names = {Path(p).name for p in cm.get_logs(str(tmp_path / "logs"))}
    assert {"logged_1-1.log", "query_frontend.log", "management_frontend.log", "redis.log"} <= names


def test_images_local_mode_cannot_run(cm: LocalContainerManager, tmp_path: Path) -> None:
    data = closure_dir(tmp_path, lambda xs: xs)
    with pytest.raises(ClipperException) as e:
        cm.build_model("java", "1", data, "clipper/java-container:develop")
    assert str(e.value).startswith("LocalContainerManager can only run Python closures, ")
    assert str(e.value).endswith("use DockerContainerManager for image clipper/java-container:develop")
    with pytest.raises(ClipperException, match="use DockerContainerManager for image my/custom:1"):
        cm.deploy_model("custom", "1", "doubles", "my/custom:1")
    with pytest.raises(ClipperException, match="not found"):
        cm.deploy_model("gone", "1", "doubles", f"local:{tmp_path / 'nowhere'}")
    assert cm.get_num_replicas("custom", "1") == 0


def _tiny_wheel(directory: Path) -> Path:
    """A pure-Python wheel (``clippertiny``) that pip installs without an index."""
    wheel = directory / "clippertiny-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("clippertiny/__init__.py", "ANSWER = 42\n")
        z.writestr("clippertiny-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: clippertiny\nVersion: 0.1\n")
        z.writestr("clippertiny-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("clippertiny-0.1.dist-info/RECORD", "")
    return wheel


def test_pkgs_to_install_go_into_a_model_virtualenv(
    cm: LocalContainerManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    wheel = _tiny_wheel(tmp_path)

    def predict(xs: list[Any]) -> list[str]:
        import clippertiny

        return [str(clippertiny.ANSWER) for _ in xs]

    image = cm.build_model("withpkg", "1", closure_dir(tmp_path, predict), CLOSURE_IMAGE, pkgs_to_install=[str(wheel)])
    venv_python = Path(image.removeprefix("local:")) / "venv" / "bin" / "python"
    check = subprocess.run(
        [str(venv_python), "-c", "import clippertiny, model_containers, numpy; print(clippertiny.ANSWER)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "42"
    cm.deploy_model("withpkg", "1", "doubles", image)
    (replica,) = [s for s in cm.process_status() if s.model == "withpkg:1"]
    assert Path(f"/proc/{replica.pid}/exe").resolve() == venv_python.resolve()


def test_pip_failure_is_reported(cm: LocalContainerManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(ClipperException) as e:
        cm.build_model("nopkg", "1", closure_dir(tmp_path, lambda xs: xs), CLOSURE_IMAGE,
                       pkgs_to_install=["clipper-no-such-package-zz"])  # fmt: skip
    assert "pip install failed" in str(e.value)
    assert "clipper-no-such-package-zz" in str(e.value)


def test_concurrent_scaling_from_two_processes_is_serialized(cm: LocalContainerManager) -> None:
    code = (
        "import sys\n"
        "from clipper_admin.local import LocalContainerManager\n"
        "cm = LocalContainerManager(cluster_name='models', cluster_dir=sys.argv[1])\n"
        "cm.connect()\n"
        f"cm.set_num_replicas('twice', '1', 'doubles', {NOOP_IMAGE!r}, 3)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code, str(cm.cluster_dir)], stderr=subprocess.PIPE, text=True)
    try:
        cm.set_num_replicas("twice", "1", "doubles", NOOP_IMAGE, 3)
    finally:
        _, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert cm.get_num_replicas("twice", "1") == 3
    assert sorted(s.name for s in replicas(cm, "twice:1")) == ["twice_1-1", "twice_1-2", "twice_1-3"]


def test_a_replica_that_crashes_after_serving_is_restarted(cm: LocalContainerManager) -> None:
    import psutil

    cm.deploy_model("phoenix", "1", "doubles", NOOP_IMAGE)
    (record,) = replicas(cm, "phoenix:1")
    (first,) = psutil.Process(record.pid).children()
    first.kill()  # the replica itself, not the restarter that runs it
    deadline = time.monotonic() + 30
    while True:
        children = [c for c in psutil.Process(record.pid).children() if c.pid != first.pid]
        if children and Path(cm.paths.ready_file(record.name)).exists():
            break
        assert time.monotonic() < deadline, Path(record.log).read_text()[-2000:]
        time.sleep(0.1)
    assert "the replica was killed by signal 9; restarting it in 0.5 s (restart 1)" in Path(record.log).read_text()
    assert [s.name for s in replicas(cm, "phoenix:1")] == [record.name]  # the same replica, still counted
    assert cm.get_num_replicas("phoenix", "1") == 1
