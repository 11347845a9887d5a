"""The package surface: exports, constants, label helpers, the manager interface, retry."""

from __future__ import annotations

import inspect
import logging
import os
import subprocess
import sys
from typing import Any

import pytest

import clipper_admin
from clipper_admin import (
    ClipperException,
    DockerContainerManager,
    KubernetesContainerManager,
)
from clipper_admin import container_manager as cmod
from clipper_admin.decorators import retry


def test_exports() -> None:
    from clipper_admin.clipper_admin import ClipperConnection
    from clipper_admin.local.local_container_manager import LocalContainerManager

    assert clipper_admin.ClipperConnection is ClipperConnection
    assert clipper_admin.LocalContainerManager is LocalContainerManager
    assert clipper_admin.CLIPPER_TEMP_DIR == "/tmp/clipper"
    assert clipper_admin.DEFAULT_PREDICTION_CACHE_SIZE_BYTES == 33554432
    assert clipper_admin.DEFAULT_LABEL == []
    assert clipper_admin.deploy_regex_str == r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z"
    assert clipper_admin.CONTAINERLESS_MODEL_IMAGE == "NO_CONTAINER"
    assert issubclass(clipper_admin.ClusterAdapter, logging.LoggerAdapter)
    assert clipper_admin.__version__ == "0.1.0"
    assert issubclass(clipper_admin.UnconnectedException, clipper_admin.ClipperException)
    assert inspect.ismodule(clipper_admin.deployers)
    from clipper_admin.deployers import python as python_deployer

    assert callable(python_deployer.deploy_python_closure) and callable(python_deployer.create_endpoint)
    for name in clipper_admin.__all__:
        assert hasattr(clipper_admin, name), name


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_registry_comes_from_the_environment_and_import_configures_logging() -> None:
    # The client's lines read like the frontends' and replicas' (clipper_service.process.LOG_FORMAT).
    out = run_python(
        "import logging, clipper_admin as c; h = logging.getLogger().handlers[0];"
        "print(c.__registry__, h.formatter._fmt, h.formatter.datefmt, logging.getLogger().level, sep='|')",
        CLIPPER_REGISTRY="myregistry",
    )
    assert out.split("|") == [
        "myregistry", "%(asctime)s.%(msecs)03d %(levelname)-7s [CLIENT] %(name)s: %(message)s",
        "%Y-%m-%d %H:%M:%S", str(logging.INFO),
    ]
    env = {k: v for k, v in os.environ.items() if k != "CLIPPER_REGISTRY"}
    result = subprocess.run([sys.executable, "-c", "import clipper_admin as c; print(c.__registry__)"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "clipper"


def test_import_does_not_load_docker_or_kubernetes() -> None:
    out = run_python("import sys, clipper_admin; print('docker' in sys.modules, 'kubernetes' in sys.modules)")
    assert out == "False False"


def test_label_constants() -> None:
    assert cmod.CLIPPER_DOCKER_LABEL == "ai.clipper.container.label"
    assert cmod.CLIPPER_NAME_LABEL == "ai.clipper.name"
    assert cmod.CLIPPER_MODEL_CONTAINER_LABEL == "ai.clipper.model_container.label"
    assert cmod.CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL == "ai.clipper.query_frontend.label"
    assert cmod.CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL == "ai.clipper.management_frontend.label"
    assert cmod.CLIPPER_DOCKER_PORT_LABELS == {
        "redis": "ai.clipper.redis.port",
        "query_rest": "ai.clipper.query_frontend.query.port",
        "query_rpc": "ai.clipper.query_frontend.rpc.port",
        "management": "ai.clipper.management.port",
        "metric": "ai.clipper.metric.port",
        "fluentd": "ai.clipper.fluentd.port",
    }
    assert cmod.CLIPPER_METRIC_CONFIG_LABEL == "ai.clipper.metric.config"
    assert cmod.CLIPPER_FLUENTD_CONFIG_LABEL == "ai.clipper.fluentd.config"
    ports = (cmod.CLIPPER_INTERNAL_QUERY_PORT, cmod.CLIPPER_INTERNAL_MANAGEMENT_PORT, cmod.CLIPPER_INTERNAL_RPC_PORT,
             cmod.CLIPPER_INTERNAL_METRIC_PORT, cmod.CLIPPER_INTERNAL_REDIS_PORT, cmod.CLIPPER_INTERNAL_FLUENTD_PORT)
    assert ports == (1337, 1338, 7000, 1390, 6379, 24224)


def test_model_container_labels_round_trip() -> None:
    label = cmod.create_model_container_label("sum-model", "1")
    assert label == "sum-model_1"
    assert cmod.parse_model_container_label(label) == ("sum-model", "1")
    for bad in ("nounderscore", "a_b_c"):
        with pytest.raises(ClipperException, match=f"^Unable to parse model container label {bad}$"):
            cmod.parse_model_container_label(bad)


def test_container_manager_interface() -> None:
    assert cmod.ContainerManager.__abstractmethods__ == {
        "start_clipper", "connect", "deploy_model", "get_num_replicas", "set_num_replicas", "get_logs",
        "stop_models", "stop_all_model_containers", "stop_all", "get_admin_addr", "get_query_addr",
        "get_metric_addr",
    }
    params = list(inspect.signature(cmod.ContainerManager.start_clipper).parameters)
    assert params == ["self", "query_frontend_image", "mgmt_frontend_image", "frontend_exporter_image", "cache_size",
                      "qf_http_thread_pool_size", "qf_http_timeout_request", "qf_http_timeout_content",
                      "num_frontend_replicas"]

    class Incomplete(cmod.ContainerManager):
        def connect(self) -> None: ...

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_docker_container_manager_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine needed to construct
    cm = DockerContainerManager()
    assert (cm.cluster_name, cm.cluster_identifier, cm.public_hostname) == ("default-cluster",) * 2 + ("localhost",)
    assert (cm.clipper_query_port, cm.clipper_management_port, cm.clipper_rpc_port) == (1337, 1338, 7000)
    assert (cm.redis_ip, cm.redis_port, cm.external_redis, cm.prometheus_port) == (None, 6379, False, 9090)
    assert cm.docker_network == "clipper_network" and cm.log_config == {"type": "json-file"}
    assert cm.common_labels == {"ai.clipper.container.label": "default-cluster"}
    assert cm.extra_container_kwargs == {"network": "clipper_network", "detach": True}
    assert (cm.get_admin_addr(), cm.get_query_addr(), cm.get_metric_addr()) == (
        "localhost:1338", "localhost:1337", "localhost:9090")

    extra: dict[str, Any] = {"labels": {"team": "ml"}, "cpu_quota": 100}
    cm = DockerContainerManager("c2", "10.0.0.1", use_centralized_log=True, fluentd_port=3000, redis_ip="redis.local",
                                extra_container_kwargs=extra)
    assert extra == {"labels": {"team": "ml"}, "cpu_quota": 100}  # the caller's dict is not modified
    assert cm.common_labels == {"team": "ml", "ai.clipper.container.label": "c2"}
    assert cm.extra_container_kwargs == {"cpu_quota": 100, "network": "clipper_network", "detach": True}
    assert cm.external_redis is True
    assert cm.log_config == {"type": "fluentd", "Config": {"fluentd-address": "127.0.0.1:3000"}}

    with pytest.raises(ClipperException, match='does not support running Clipper on the "host" docker network'):
        DockerContainerManager(docker_network="host")


def test_kubernetes_container_manager_constructor() -> None:
    cm = KubernetesContainerManager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True)
    assert (cm.cluster_name, cm.cluster_identifier, cm.k8s_namespace) == ("default-cluster", "default-cluster",
                                                                           "default")
    assert cm.kubernetes_proxy_addr == "127.0.0.1:8080" and cm.useInternalIP is True
    # NodePort as the original, except Redis: ClusterIP, never published outside the cluster.
    assert cm.service_types == {**dict.fromkeys(["metric", "management", "query", "query-rpc"], "NodePort"),
                                "redis": "ClusterIP"}
    assert KubernetesContainerManager("a", namespace="ns-1").cluster_identifier == "ns-1-a"
    good = {"redis": "ClusterIP", "management": "LoadBalancer", "query": "NodePort", "query-rpc": "ClusterIP",
            "metric": "NodePort"}
    assert KubernetesContainerManager(service_types=good).service_types == good


@pytest.mark.parametrize(
    ("service_types", "message"),
    [
        ("NodePort", "service_types must be 'dict' type: NodePort"),
        ({"redis": "NodePort", "bogus": "NodePort"}, "service_types has unknown keys: ['bogus']"),
        ({"redis": "NodePort"}, "service_types is missing keys"),
        ({"redis": "Weird", "management": "NodePort", "query": "NodePort", "query-rpc": "NodePort",
          "metric": "NodePort"}, "service_types has unknown values: ['Weird']"),
        ({"redis": "ExternalName", "management": "NodePort", "query": "NodePort", "query-rpc": "NodePort",
          "metric": "NodePort"}, "Clipper does not support 'ExternalName' service"),
    ],
)
def test_kubernetes_service_types_are_validated(service_types: Any, message: str) -> None:
    with pytest.raises(ClipperException) as e:
        KubernetesContainerManager(service_types=service_types)
    assert str(e.value).startswith(message)


def test_retry_retries_then_lets_the_last_attempt_raise(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    @retry(ValueError, tries=3, delay=0.01, backoff=2)
    def flaky(succeed_on: int) -> str:
        attempts.append(1)
        if len(attempts) < succeed_on:
            raise ValueError(f"attempt {len(attempts)}")
        return "ok"

    with caplog.at_level(logging.WARNING):
        assert flaky(3) == "ok"
    assert len(attempts) == 3
    assert caplog.messages == ["attempt 1, Retrying in 0 seconds...", "attempt 2, Retrying in 0 seconds..."]
    attempts.clear()
    with pytest.raises(ValueError, match="attempt 3"):
        flaky(10)
    assert len(attempts) == 3

    @retry(ValueError, tries=5, delay=0.01)
    def wrong_kind() -> None:
        attempts.append(1)
        raise KeyError("not retried")

    attempts.clear()
    with pytest.raises(KeyError):
        wrong_kind()
    assert len(attempts) == 1
