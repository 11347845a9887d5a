"""Model replicas get resources that fit their framework (PySpark's JVM), read from the image's label."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")

from clipper_admin import KubernetesContainerManager, images  # noqa: E402
from clipper_admin.kubernetes import manifests as m  # noqa: E402
from clipper_admin.kubernetes.kubernetes_container_manager import image_framework  # noqa: E402
from tests.kubernetes.fake_apiserver import K8S_VERSION, FakeApiServer  # noqa: E402
from tests.support.ci import skip_or_fail  # noqa: E402

START = ("clipper/query_frontend:0.1.0", "clipper/management_frontend:0.1.0", "clipper/frontend-exporter:0.1.0",
         33554432, 1, 5, 300)
TF_IMAGE = images.image(images.framework_container_name("tf"))


def replica_resources(fake: FakeApiServer, model: str) -> Any:
    found = fake.state.objects("apps", "deployments", "default")
    (deployment,) = [d for name, d in found.items() if name.startswith(f"{model}-")]
    return deployment["spec"]["template"]["spec"]["containers"][0]["resources"]


def memory_gib(quantity: str) -> float:
    value, unit = quantity[:-2], quantity[-2:]
    return float(value) * {"Mi": 1 / 1024, "Gi": 1.0}[unit]


@pytest.mark.parametrize("framework", sorted(m.FRAMEWORK_MODEL_RESOURCES))
def test_framework_resources_validate_and_request_no_more_than_their_limits(framework: str) -> None:
    resources = m.model_resources_for(framework)
    c = m.ClusterSpec(cluster_name="default-cluster", cluster_identifier="default-cluster", namespace="default",
                      service_types={"redis": "ClusterIP", "management": "NodePort", "query": "NodePort",
                                     "metric": "NodePort"})
    obj = m.model_deployment(c, "digits", "1", "doubles", "reg.example/default-cluster-digits:1", 1, 0, resources)
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    assert memory_gib(resources["requests"]["memory"]) <= memory_gib(resources["limits"]["memory"])


def test_a_jvm_gets_more_memory_than_a_closure() -> None:
    assert memory_gib(m.model_resources_for("pyspark")["requests"]["memory"]) >= 2
    assert m.model_resources_for(None) == m.DEFAULT_MODEL_RESOURCES
    assert m.model_resources_for("something-else") == m.DEFAULT_MODEL_RESOURCES


def test_an_image_not_in_the_engine_gets_the_default(
    make_manager: Callable[..., KubernetesContainerManager], fake_k8s: FakeApiServer
) -> None:
    assert image_framework("reg.example/nowhere-to-be-found:1") is None
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True)
    cm.start_clipper(*START)
    cm.deploy_model("plain", "1", "doubles", "reg.example/nowhere-to-be-found:1")
    assert replica_resources(fake_k8s, "plain") == m.DEFAULT_MODEL_RESOURCES


def test_given_resources_win(make_manager: Callable[..., KubernetesContainerManager], fake_k8s: FakeApiServer) -> None:
    mine = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True, model_resources=mine)
    cm.start_clipper(*START)
    cm.deploy_model("mine", "1", "doubles", TF_IMAGE)
    assert replica_resources(fake_k8s, "mine") == mine


@pytest.mark.docker
@pytest.mark.parametrize("framework, name", [("tensorflow", "tf"), ("pyspark", "pyspark")])
def test_a_framework_image_gets_its_resources(
    make_manager: Callable[..., KubernetesContainerManager], fake_k8s: FakeApiServer, framework: str, name: str
) -> None:
    image = images.image(images.framework_container_name(name))
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=30)
        client.images.get(image)
        client.close()
    except Exception as e:  # noqa: BLE001 - no engine or no image
        skip_or_fail(f"needs the Docker engine and {image} (`make images`): {e}")
    assert image_framework(image) == framework
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True)
    cm.start_clipper(*START)
    cm.deploy_model("digits", "1", "doubles", image)
    assert replica_resources(fake_k8s, "digits") == m.FRAMEWORK_MODEL_RESOURCES[framework]
