"""The images `make images` builds: present, non-root, labelled, and working together.

Missing images skip locally but FAIL under CI=true ("run make images").
Every container and network is named with a random prefix and removed even
when a test fails.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import requests

from clipper_admin import images

PY_IMAGES = [
    images.RPC_BASE,
    images.QUERY_FRONTEND,
    images.MANAGEMENT_FRONTEND,
    images.closure_container_name(3, 11),
    images.NOOP_CONTAINER,
]
ALL_IMAGES = [*PY_IMAGES, images.REDIS, images.PROMETHEUS]
DEADLINE_S = 60.0


def _run_once(client: Any, ref: str, entrypoint: list[str], command: list[str]) -> str:
    """Output of a short-lived container; the container is removed."""
    container = client.containers.run(ref, command, entrypoint=entrypoint, detach=True)
    try:
        result = container.wait(timeout=DEADLINE_S)
        output = container.logs().decode()
        assert result["StatusCode"] == 0, output
        return output.strip()
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_image_exists_and_runs_as_non_root(docker_client: Any, require_image: Any, name: str) -> None:
    img = require_image(images.image(name))
    assert images.image(name).rsplit(":", 1)[0] + ":latest" in img.tags
    user = img.attrs["Config"].get("User") or "root"
    assert user not in ("root", "0", "0:0")
    uid = _run_once(docker_client, images.image(name), ["id"], ["-u"])
    assert uid != "0"


@pytest.mark.parametrize("name", PY_IMAGES)
def test_python_version_matches_label(docker_client: Any, require_image: Any, name: str) -> None:
    img = require_image(images.image(name))
    label = img.labels.get(images.PYTHON_VERSION_LABEL)
    assert label == "3.11"
    version = _run_once(
        docker_client, images.image(name), ["python"], ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    )
    assert version == label
    # The venv belongs to the container's user: pkgs_to_install can go in without root.
    owner = _run_once(docker_client, images.image(name), ["stat"], ["-c", "%u", "/opt/clipper/lib"])
    assert owner == "1000"


# --- the cluster on a user-defined network ---------------------------------------------


class Cluster:
    """Containers on one private network, all removed by :meth:`close`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.prefix = f"cltest-{uuid.uuid4().hex[:8]}"
        self.network = client.networks.create(f"{self.prefix}-net", driver="bridge")
        self.containers: list[Any] = []

    def name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def run(self, image_name: str, role: str, **kwargs: Any) -> Any:
        container = self.client.containers.run(
            images.image(image_name), name=self.name(role), network=self.network.name, detach=True, **kwargs
        )
        self.containers.append(container)
        return container

    def host_port(self, container: Any, port: int) -> int:
        container.reload()
        return int(container.ports[f"{port}/tcp"][0]["HostPort"])

    def logs(self) -> str:
        out = []
        for c in self.containers:
            try:
                out.append(f"--- {c.name}\n{c.logs(tail=40).decode(errors='replace')}")
            except Exception as e:  # noqa: BLE001 - diagnostics only
                out.append(f"--- {c.name}: no logs ({e})")
        return "\n".join(out)

    def close(self) -> None:
        for c in reversed(self.containers):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - keep removing the rest
                pass
        self.network.remove()


def _poll(check: Callable[[], Any], what: str, cluster: Cluster, deadline_s: float = DEADLINE_S) -> Any:
    """Call ``check`` until it returns a truthy value without raising."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException as e:
            last = e
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what} (last: {last})\n{cluster.logs()}")


@pytest.fixture
def cluster(docker_client: Any, require_image: Any) -> Iterator[Cluster]:
    for name in (images.REDIS, images.MANAGEMENT_FRONTEND, images.QUERY_FRONTEND):
        require_image(images.image(name))
    c = Cluster(docker_client)
    try:
        redis_name = c.name("redis")
        c.run(images.REDIS, "redis")
        redis_args = [f"--redis_ip={redis_name}", "--redis_port=6379"]
        mgmt = c.run(images.MANAGEMENT_FRONTEND, "mgmt", command=redis_args, ports={"1338/tcp": ("127.0.0.1", None)})
        qf = c.run(images.QUERY_FRONTEND, "qf", command=redis_args, ports={"1337/tcp": ("127.0.0.1", None)})
        c.mgmt_url = f"http://127.0.0.1:{c.host_port(mgmt, 1338)}"  # type: ignore[attr-defined]
        c.qf_url = f"http://127.0.0.1:{c.host_port(qf, 1337)}"  # type: ignore[attr-defined]
        # Both frontends answering means both reached the redis container.
        c.ping = _poll(lambda: requests.get(f"{c.mgmt_url}/admin/ping", timeout=5), "/admin/ping", c)  # type: ignore[attr-defined]
        c.metrics = _poll(lambda: requests.get(f"{c.qf_url}/metrics", timeout=5), "/metrics", c)  # type: ignore[attr-defined]
        yield c
    finally:
        c.close()


def _admin(cluster: Cluster, path: str, body: dict[str, Any]) -> None:
    r = requests.post(f"{cluster.mgmt_url}/admin/{path}", json=body, timeout=10)  # type: ignore[attr-defined]
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"


def _deploy(cluster: Cluster, app: str, model: str, image_name: str) -> None:
    _admin(cluster, "add_app", {"name": app, "input_type": "doubles", "default_output": "-1.0",
                                "latency_slo_micros": 2_000_000})  # fmt: skip
    _admin(cluster, "add_model", {"model_name": model, "model_version": "1", "labels": [], "input_type": "doubles",
                                  "container_name": images.image(image_name), "model_data_path": "/model",
                                  "batch_size": -1})  # fmt: skip
    _admin(cluster, "add_model_links", {"app_name": app, "model_names": [model]})


def _model_env(cluster: Cluster, model: str) -> dict[str, str]:
    return {"CLIPPER_MODEL_NAME": model, "CLIPPER_MODEL_VERSION": "1", "CLIPPER_IP": cluster.name("qf"),
            "CLIPPER_PORT": "7000", "CLIPPER_INPUT_TYPE": "doubles"}  # fmt: skip


def _predict_until_served(cluster: Cluster, app: str, x: list[float]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        r = requests.post(f"{cluster.qf_url}/{app}/predict", json={"input": x}, timeout=10)  # type: ignore[attr-defined]
        body = r.json()
        return body if r.status_code == 200 and body.get("default") is False else None

    return _poll(check, f"a model-served prediction from {app}", cluster)


def test_frontends_and_redis_run_together(cluster: Cluster) -> None:
    assert cluster.ping.text.strip() == "PONG"  # type: ignore[attr-defined]
    assert isinstance(cluster.metrics.json(), dict)  # type: ignore[attr-defined]
    text = requests.get(f"{cluster.qf_url}/metrics/prometheus", timeout=10)  # type: ignore[attr-defined]
    assert text.status_code == 200 and "# TYPE" in text.text
    # The frontends share state through the redis container: an app added over
    # the admin API is listed back.
    _admin(cluster, "add_app", {"name": "shared", "input_type": "doubles", "default_output": "0",
                                "latency_slo_micros": 100000})  # fmt: skip
    r = requests.post(f"{cluster.mgmt_url}/admin/get_all_applications", json={"verbose": False}, timeout=10)  # type: ignore[attr-defined]
    assert "shared" in r.json()


def test_noop_container_answers_through_query_frontend(cluster: Cluster, require_image: Any) -> None:
    require_image(images.image(images.NOOP_CONTAINER))
    _deploy(cluster, "noop-app", "noop", images.NOOP_CONTAINER)
    cluster.run(images.NOOP_CONTAINER, "noop", environment=_model_env(cluster, "noop"))
    body = _predict_until_served(cluster, "noop-app", [1.0, 2.0])
    assert body["default"] is False


def test_closure_container_serves_mounted_function(cluster: Cluster, require_image: Any, tmp_path: Path) -> None:
    closure = images.closure_container_name(3, 11)
    require_image(images.image(closure))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    def double_sum(xs: list[Any]) -> list[str]:  # local, so cloudpickle ships it by value
        return [str(2 * sum(x)) for x in xs]

    (model_dir / "func.pkl").write_bytes(cloudpickle.dumps(double_sum))
    model_dir.chmod(0o755)
    (model_dir / "func.pkl").chmod(0o644)
    _deploy(cluster, "closure-app", "double-sum", closure)
    container = cluster.run(
        closure, "closure", environment=_model_env(cluster, "double-sum"),
        volumes={str(model_dir): {"bind": "/model", "mode": "ro"}},
    )  # fmt: skip
    body = _predict_until_served(cluster, "closure-app", [1.5, 2.0])
    assert float(body["output"]) == pytest.approx(7.0)

    def healthy() -> bool:
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status") == "healthy"

    _poll(healthy, "the closure container's HEALTHCHECK", cluster)

