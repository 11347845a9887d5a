"""The Kubernetes manager deploys the framework images as it deploys the closure image; manifests validate.

Same strictness as tests/kubernetes: the API schema of the fake API server's
Kubernetes version, strict, and the model pods' hardening rules.
"""

from __future__ import annotations

from typing import Any

import pytest

kubernetes_validate = pytest.importorskip("kubernetes_validate")

from clipper_admin import images  # noqa: E402
from clipper_admin.kubernetes import manifests as m  # noqa: E402
from clipper_admin.kubernetes.kubernetes_container_manager import DEFAULT_SERVICE_TYPES  # noqa: E402
from tests.kubernetes.fake_apiserver import K8S_VERSION  # noqa: E402
from tests.kubernetes.hardening import hardening_problems, pod_template  # noqa: E402

CLOSURE = images.image(images.closure_container_name())
FRAMEWORK_IMAGES = [images.image(images.framework_container_name("pytorch")), images.image(images.ONNX_CONTAINER),
                    images.image(images.CAFFE2_ONNX_CONTAINER), images.image(images.framework_container_name("tf")),
                    images.image(images.TF_CONTAINER), images.image(images.framework_container_name("keras")),
                    images.image(images.KERAS_CONTAINER), images.image(images.framework_container_name("pyspark")),
                    images.image(images.PYSPARK_CONTAINER), images.image(images.framework_container_name("mxnet")),
                    images.image(images.MXNET_CONTAINER)]


def spec(**kwargs: Any) -> m.ClusterSpec:
    defaults: dict[str, Any] = {"cluster_name": "default-cluster", "cluster_identifier": "default-cluster",
                                "namespace": "default", "service_types": dict(DEFAULT_SERVICE_TYPES)}
    return m.ClusterSpec(**{**defaults, **kwargs})


def without_image(obj: Any) -> Any:
    pod = pod_template(obj)
    assert pod is not None
    for container in pod["containers"]:
        container.pop("image")
    return obj


@pytest.mark.parametrize("base", FRAMEWORK_IMAGES)
@pytest.mark.parametrize("resources", [None, {"requests": {"cpu": "500m", "memory": "1Gi"},
                                              "limits": {"cpu": "2", "memory": "2Gi"}}])
def test_framework_model_deployments_validate_like_the_closures(base: str, resources: Any) -> None:
    c = spec(image_pull_secrets=["regkey"])
    model_image = f"reg.example/default-cluster-torch-digits:{1}"
    for i in range(2):
        obj = m.model_deployment(c, "torch-digits", "1", "doubles", model_image, 2, i, resources)
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert hardening_problems(obj, writable_root_ok=True) == []
        pod = pod_template(obj)
        assert pod is not None
        (container,) = pod["containers"]
        assert container["image"] == model_image
        assert "command" not in container and "args" not in container  # the image's entrypoint runs
        closure = m.model_deployment(c, "torch-digits", "1", "doubles", CLOSURE, 2, i, resources)
        assert without_image(obj) == without_image(closure)
