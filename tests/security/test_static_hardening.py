"""Row 20, static part (no Docker needed): images, Compose file and the Docker
manager's defaults. The Kubernetes manifests' hardening and authentication
are checked in tests/kubernetes (``hardening_problems``, ``auth_problems``).

- Every Dockerfile's final stage runs as a named or numeric non-root user.
- The Compose file and ``DockerContainerManager`` publish the management
  frontend on the host's loopback only and never publish Redis, unless asked.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from clipper_admin import DockerContainerManager
from clipper_admin.container_manager import CLIPPER_DOCKER_PORT_LABELS, CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL
from clipper_admin.docker.docker_container_manager import _management_token

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "dockerfiles").glob("*.Dockerfile"))


def _instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def test_every_dockerfile_is_checked() -> None:
    names = {p.name for p in DOCKERFILES}
    assert {"py-rpc.Dockerfile", "query_frontend.Dockerfile", "management_frontend.Dockerfile",
            "redis.Dockerfile", "python-closure-container.Dockerfile"} <= names


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_final_stage_runs_as_non_root(path: Path) -> None:
    stage = _final_stage(_instructions(path))
    users = [args for word, args in stage if word == "USER"]
    assert users, f"{path.name}: the final stage sets no USER (runs as root)"
    user = users[-1].split(":")[0].strip()
    assert user not in ("root", "0", ""), f"{path.name}: last USER is {users[-1]!r}"
    # Nothing after the last USER switches back or runs commands as root.
    last = max(i for i, (word, _) in enumerate(stage) if word == "USER")
    after = [word for word, _ in stage[last + 1:]]
    assert "RUN" not in after, f"{path.name}: RUN after the last USER"


def test_dockerfile_parser_sees_a_late_root_user(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM a AS build\nUSER app\nFROM b\nRUN x \\\n  && y\nUSER root\n")
    stage = _final_stage(_instructions(bad))
    assert stage == [("FROM", "b"), ("RUN", "x  && y"), ("USER", "root")]


def test_compose_publishes_admin_api_on_loopback_and_never_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["redis"]
    mgmt_ports = services["management_frontend"]["ports"]
    assert mgmt_ports and all(str(p).startswith("127.0.0.1:") for p in mgmt_ports), mgmt_ports
    env = services["management_frontend"].get("environment") or {}
    assert "CLIPPER_ADMIN_TOKEN" in env


# ---------------------------------------------------------------- Docker manager, with a fake engine


@dataclass
class FakeContainer:
    name: str
    labels: dict[str, str]
    kwargs: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=lambda: {"State": {"Status": "running"}})

    def reload(self) -> None:
        pass


class FakeApi:
    def create_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


class FakeContainers:
    def __init__(self) -> None:
        self.started: list[FakeContainer] = []

    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        env = kwargs.get("environment") or {}
        c = FakeContainer(kwargs["name"], kwargs.get("labels") or {}, {"image": image, **kwargs},
                          {"State": {"Status": "running"}, "Config": {"Env": [f"{k}={v}" for k, v in env.items()]}})
        self.started.append(c)
        return c


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeContainers()
        self.api = FakeApi()


def _start(cm: DockerContainerManager) -> dict[str, FakeContainer]:
    """Run the manager's start-up against the fake engine; containers by role."""
    client = FakeClient()
    started: list[Any] = []
    cm._start_core(client, started, "qf-image", "mgmt-image", 1024, 1, 5, 300, 1)
    cm._remove_config_file(cm.prometheus_config_path)
    roles = {}
    for c in client.containers.started:
        if CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL in c.labels:
            roles["mgmt"] = c
        elif CLIPPER_DOCKER_PORT_LABELS["redis"] in c.labels:
            roles["redis"] = c
    return roles


def _manager(**kwargs: Any) -> DockerContainerManager:
    # 0: the manager picks the ports it publishes (and records them on itself).
    ports = dict.fromkeys(("clipper_query_port", "clipper_management_port", "clipper_rpc_port",
                           "redis_port", "prometheus_port"), 0)
    return DockerContainerManager(cluster_name="hardening", **{**ports, **kwargs})  # type: ignore[arg-type]


def test_docker_defaults_bind_admin_to_loopback_and_hide_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIPPER_ADMIN_TOKEN", raising=False)
    cm = _manager()
    roles = _start(cm)
    mgmt_ports = roles["mgmt"].kwargs["ports"]
    assert list(mgmt_ports.values()) == [("127.0.0.1", cm.clipper_management_port)]
    assert not roles["redis"].kwargs.get("ports")
    assert roles["redis"].labels[CLIPPER_DOCKER_PORT_LABELS["redis"]] == ""
    # No token (the original's open API); only the cluster's Redis password, by environment.
    assert roles["mgmt"].kwargs.get("environment") == {"CLIPPER_MGMT_REDIS_PASSWORD": cm.redis_password}
    assert len(cm.redis_password) >= 32
    assert roles["redis"].kwargs["environment"] == {"REDIS_PASSWORD": cm.redis_password,
                                                    "REDISCLI_AUTH": cm.redis_password}
    assert cm.redis_password not in " ".join(map(shlex.quote, roles["redis"].kwargs.get("command") or []))


def test_docker_options_token_wider_bind_and_published_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIPPER_ADMIN_TOKEN", raising=False)
    cm = _manager(admin_token="tok-123", management_bind_address="0.0.0.0", publish_redis=True)
    roles = _start(cm)
    assert list(roles["mgmt"].kwargs["ports"].values()) == [("0.0.0.0", cm.clipper_management_port)]
    assert roles["mgmt"].kwargs["environment"] == {"CLIPPER_ADMIN_TOKEN": "tok-123",
                                                   "CLIPPER_MGMT_REDIS_PASSWORD": cm.redis_password}
    assert "tok-123" not in " ".join(map(shlex.quote, roles["mgmt"].kwargs["command"]))
    assert list(roles["redis"].kwargs["ports"].values()) == [("127.0.0.1", cm.redis_port)]
    assert roles["redis"].labels[CLIPPER_DOCKER_PORT_LABELS["redis"]] == str(cm.redis_port)
    # connect() from another process learns the token from the container.
    assert _management_token(list(roles.values())) == "tok-123"


def test_docker_token_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIPPER_ADMIN_TOKEN", "from-env")
    cm = _manager()
    roles = _start(cm)
    assert roles["mgmt"].kwargs["environment"] == {"CLIPPER_ADMIN_TOKEN": "from-env",
                                                   "CLIPPER_MGMT_REDIS_PASSWORD": cm.redis_password}
