"""build_model's Docker path with the python deployer: real images on a real DockerContainerManager cluster.

Covers the original's tag scheme, packages installed from a wheelhouse
fetched on this host (the containers cannot reach PyPI), the model files
readable by the unprivileged ``clipper`` user, and the early refusals
(missing base image, base image of another Python, label-less images).
"""

from __future__ import annotations

import io
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException, DockerContainerManager, images
from clipper_admin.deployers import python as python_deployer
from clipper_admin.local.redis_server import free_port

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

CLOSURE_IMAGE = images.image(images.closure_container_name())


def _remove_images(client: Any, prefix: str) -> None:
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(prefix):
                client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def conn(docker_client: Any) -> Iterator[ClipperConnection]:
    try:
        docker_client.images.get(CLOSURE_IMAGE)
    except Exception:  # noqa: BLE001
        pytest.fail(f"{CLOSURE_IMAGE} is missing: build the images with `make images`")
    name = f"deploy-{uuid.uuid4().hex[:6]}"
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
        _remove_images(docker_client, f"{name}-")


def serve(conn: ClipperConnection, app: str, payload: dict[str, Any], timeout: float = 90) -> Any:
    """The first non-default output of ``app`` (its replica may still be connecting)."""
    deadline = time.monotonic() + timeout
    while True:
        body = requests.post(f"http://{conn.get_query_addr()}/{app}/predict", json=payload, timeout=10).json()
        if body.get("default") is False:
            return body["output"]
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def in_image(client: Any, image: str, code: str) -> str:
    out: bytes = client.containers.run(image, entrypoint=["python", "-c", code], remove=True, network_disabled=True)
    return out.decode().strip()


def test_closure_with_a_package_from_the_hosts_wheelhouse(conn: ClipperConnection, docker_client: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def version_and_sum(xs: list[Any]) -> list[str]:
        import six  # installed by pkgs_to_install, not in the base image

        return [f"{six.__version__}/{sum(x)}" for x in xs]

    caplog.set_level("INFO")
    python_deployer.create_endpoint(conn, "six-sum", "doubles", version_and_sum, default_output="none",
                                    slo_micros=2000000, version=3, pkgs_to_install=["six==1.17.0"])
    assert serve(conn, "six-sum", {"input": [1.0, 2.5]}) == "1.17.0/3.5"
    image = f"{conn.cm.cluster_identifier}-six-sum:3"  # the original's tag scheme
    assert conn.get_model_info("six-sum", "3")["container_name"] == image
    # /model/ holds func.pkl, readable by the unprivileged user the image runs as
    assert in_image(docker_client, image, "import os, getpass; print(getpass.getuser(), sorted(os.listdir('/model')))") \
        == "clipper ['func.pkl']"
    # the build streamed into the log step by step, wheels fetched on this host
    messages = [r.getMessage() for r in caplog.records]
    assert any("Step 1/4 : FROM" in m for m in messages)
    # (from the host's own wheelhouse when it holds the wheel, else downloaded by pip here)
    assert any("Wheelhouse ready" in m and "six-1.17.0" in m for m in messages), messages


def test_missing_base_image_is_refused_before_building(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match=r"Base image clipper/no-such-image:0 does not exist locally and "
                                               r"could not be pulled .*`make images`"):
        python_deployer.deploy_python_closure(conn, "nobase", 1, "doubles", lambda xs: xs,
                                              base_image="clipper/no-such-image:0")
    assert not any(m.startswith("nobase:") for m in conn.get_all_models())


def _build_from(client: Any, tag: str, dockerfile: str) -> None:
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)


def test_base_image_of_another_python_is_refused(conn: ClipperConnection, docker_client: Any) -> None:
    tag = f"{conn.cm.cluster_identifier}-py37-base:1"
    _build_from(docker_client, tag, f"FROM {CLOSURE_IMAGE}\nLABEL {images.PYTHON_VERSION_LABEL}=3.7\n")
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(ClipperException, match=rf"runs Python 3.7, but this client runs Python {this}"):
        python_deployer.deploy_python_closure(conn, "py37", 1, "doubles", lambda xs: xs, base_image=tag)
    with pytest.raises(Exception, match="No such image"):
        docker_client.images.get(f"{conn.cm.cluster_identifier}-py37:1")


def test_an_image_without_the_label_is_probed_by_running_python(conn: ClipperConnection, docker_client: Any,
                                                                require_image: Any, tmp_path: Path) -> None:
    # Debian's own Python image: no clipper label, `python3` only. Its version is read by running it.
    base = "clipper-local/bookworm-python:3.11"
    labels = require_image(base).labels
    assert images.PYTHON_VERSION_LABEL not in labels
    (tmp_path / "func.pkl").write_bytes(b"not used")
    image = conn.build_model("probe", 1, str(tmp_path), base)
    assert image == f"{conn.cm.cluster_identifier}-probe:1"
    out = docker_client.containers.run(image, entrypoint=["ls", "/model"], remove=True, network_disabled=True)
    assert out.decode().split() == ["func.pkl"]



def test_a_failed_build_reports_the_step_and_leaves_no_container(conn: ClipperConnection, docker_client: Any,
                                                                 require_image: Any, tmp_path: Path) -> None:
    # Debian's Python has no `python` command (only python3): the pip step cannot run.
    base = "clipper-local/bookworm-python:3.11"
    require_image(base)
    (tmp_path / "func.pkl").write_bytes(b"not used")
    marker = "six==1.17.0"
    with pytest.raises(ClipperException, match=r"(?s)Building model image \S+-nopip:1 failed: .*Step 3/4 : RUN"):
        conn.build_model("nopip", 1, str(tmp_path), base, pkgs_to_install=[marker])
    leftovers = [c.name for c in docker_client.containers.list(all=True)
                 if marker in " ".join(c.attrs["Config"].get("Cmd") or [])]
    assert leftovers == []


def test_user_defined_metrics_reach_the_clusters_prometheus(conn: ClipperConnection) -> None:
    def counted(xs: list[Any]) -> list[str]:
        import clipper_admin.metrics as metrics  # loads in the closure image, without the client's dependencies

        metrics.add_metric("docker_um_inputs", "Counter", "Inputs answered")
        metrics.report_metric("docker_um_inputs", len(xs))
        return [str(sum(x)) for x in xs]

    python_deployer.create_endpoint(conn, "um-docker", "doubles", counted, default_output="none",
                                    slo_micros=2000000, batch_size=1)
    for x in (1.0, 2.0, 3.0):
        assert serve(conn, "um-docker", {"input": [x]}) == x  # the output string "1.0" reads as JSON

    def scraped() -> dict[str, Any] | None:
        r = requests.get(f"http://{conn.cm.get_metric_addr()}/api/v1/query",
                         params={"query": 'docker_um_inputs_total{model="um-docker"}'}, timeout=10)
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result[0] if result and result[0]["value"][1] == "3" else None

    deadline = time.monotonic() + 60  # Docker's Prometheus scrapes every 5 s, after a reload for the new replica
    while (series := scraped()) is None:
        assert time.monotonic() < deadline, "Prometheus never scraped docker_um_inputs_total == 3"
        time.sleep(1)
    assert series["metric"]["version"] == "1"
