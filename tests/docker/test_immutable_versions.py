"""On Docker, a registered version's image never changes: a refused redeploy builds and tags nothing.

A cluster serves ``m:1`` (a sum) from the image ``<cluster>-m:1``; a second
deploy of ``m:1`` with another function is refused with the management
frontend's message, the tag still names the same image (same ID), no
staging tag is left, and replicas added later serve the sum.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException, images
from clipper_admin.container_manager import CLIPPER_DOCKER_LABEL, CLIPPER_MODEL_CONTAINER_LABEL
from clipper_admin.deployers import python as python_deployer

from .conftest import ClusterFactory

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

APP = "sums"
CLOSURE_IMAGE = images.image(images.closure_container_name())
REFUSED = "Received error status code: 400 and message: model with name 'm' and version '1' already exists"


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


def negated_sum(xs: list[Any]) -> list[str]:
    return [str(-sum(x) - 1000) for x in xs]


def _model_images(client: Any, cluster: str) -> dict[str, str]:
    """Every tag of this cluster's model images, with its image ID."""
    return {tag: image.id for image in client.images.list() for tag in image.tags if tag.startswith(f"{cluster}-")}


@pytest.fixture
def conn(clusters: ClusterFactory, docker_client: Any, require_image: Any) -> Iterator[ClipperConnection]:
    require_image(CLOSURE_IMAGE)
    manager = clusters.manager()
    connection = ClipperConnection(manager)
    try:
        connection.start_clipper()
        connection.register_application(APP, "doubles", "-1.0", 10000000)
        python_deployer.deploy_python_closure(connection, "m", 1, "doubles", feature_sum)
        connection.link_model_to_app(APP, "m")
        yield connection
    finally:
        # Containers first: an image a container still uses would only be untagged.
        connection.stop_all(graceful=False)
        for tag in _model_images(docker_client, manager.cluster_name):
            docker_client.images.remove(tag, force=True)


def _predict(conn: ClipperConnection, x: list[float]) -> dict[str, Any]:
    body: dict[str, Any] = requests.post(f"http://{conn.get_query_addr()}/{APP}/predict", json={"input": x},
                                         timeout=30).json()
    return body


def _wait(what: str, check: Any, deadline_s: float = 120) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {deadline_s} s"
        time.sleep(0.5)


def test_refused_redeploy_keeps_the_image_and_new_replicas_serve_the_original(
    conn: ClipperConnection, docker_client: Any
) -> None:
    cluster = conn.cm.cluster_name
    tag = f"{cluster}-m:1"
    _wait("m:1 to answer", lambda: _predict(conn, [1.0, 2.0]).get("default") is False)
    before = _model_images(docker_client, cluster)
    assert list(before) == [tag]  # no staging tag left by the first deploy
    assert conn.get_model_info("m", 1)["container_name"] == tag  # type: ignore[index]

    with pytest.raises(ClipperException) as refused:
        python_deployer.deploy_python_closure(conn, name="m", version=1, input_type="doubles", func=negated_sum)
    assert str(refused.value) == REFUSED
    assert _model_images(docker_client, cluster) == before  # same tag, same image ID, nothing new

    conn.set_num_replicas("m", 3)
    replicas = docker_client.containers.list(filters={"label": [f"{CLIPPER_DOCKER_LABEL}={cluster}",
                                                                f"{CLIPPER_MODEL_CONTAINER_LABEL}=m_1"]})
    assert len(replicas) == 3
    assert {c.image.id for c in replicas} == {before[tag]}
    _wait("3 connected replicas", lambda: len(conn.get_all_model_replicas()) == 3)

    def answer(i: int) -> tuple[float, float]:
        x = [float(i), 0.5]
        body = _predict(conn, x)
        assert body["default"] is False, body
        return sum(x), float(body["output"])

    with ThreadPoolExecutor(6) as pool:
        wrong = [(want, got) for want, got in pool.map(answer, range(60)) if got != want]
    assert wrong == [], f"answers not from the registered sum: {wrong[:5]}"


def test_a_deploy_refused_at_registration_removes_its_replicas_and_image(
    conn: ClipperConnection, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deploys of one version racing: both pass the check, the second one's registration is refused."""
    cluster = conn.cm.cluster_name
    _wait("m:1 to answer", lambda: _predict(conn, [1.0, 2.0]).get("default") is False)
    before = _model_images(docker_client, cluster)
    monkeypatch.setattr(conn, "_refuse_registered_version", lambda name, version: None, raising=False)
    with pytest.raises(ClipperException) as refused:
        python_deployer.deploy_python_closure(conn, "m", 1, "doubles", negated_sum, num_replicas=2)
    assert str(refused.value) == REFUSED
    assert _model_images(docker_client, cluster) == before  # its staging tag and image are gone
    replicas = docker_client.containers.list(all=True, filters={"label": [f"{CLIPPER_DOCKER_LABEL}={cluster}",
                                                                          f"{CLIPPER_MODEL_CONTAINER_LABEL}=m_1"]})
    assert [c.image.id for c in replicas] == [before[f"{cluster}-m:1"]]  # its replica is gone
    for i in range(20):
        body = _predict(conn, [float(i), 0.5])
        assert body["default"] is False and float(body["output"]) == i + 0.5, body
