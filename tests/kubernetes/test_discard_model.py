"""``discard_model``: a deploy refused at registration takes its Deployments away, and nothing else."""

from __future__ import annotations

from collections.abc import Callable

from clipper_admin import KubernetesContainerManager
from tests.kubernetes.fake_apiserver import FakeApiServer

IMAGES = ("clipper/query_frontend:0.1.0", "clipper/management_frontend:0.1.0", "clipper/frontend-exporter:0.1.0")
START = (*IMAGES, 33554432, 1, 5, 300)


def model_deployments(fake: FakeApiServer) -> dict[str, str]:
    found = fake.state.objects("apps", "deployments", "default")
    return {name: d["spec"]["template"]["spec"]["containers"][0]["image"]
            for name, d in found.items() if "-deployment-at-" in name}


def test_discard_removes_only_the_deployments_of_that_image(
    make_manager: Callable[..., KubernetesContainerManager], fake_k8s: FakeApiServer
) -> None:
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True)
    cm.start_clipper(*START, num_frontend_replicas=2)
    cm.deploy_model("m", "1", "doubles", "reg.example/c-m:1")
    cm.deploy_model("m", "2", "doubles", "reg.example/c-m:build-0123")
    before = model_deployments(fake_k8s)
    assert len(before) == 4

    cm.discard_model("m", "1", "reg.example/c-m:build-0123")  # m:1 runs another image: kept
    assert model_deployments(fake_k8s) == before
    cm.discard_model("m", "2", "reg.example/c-m:build-0123")
    assert model_deployments(fake_k8s) == {k: v for k, v in before.items() if k.startswith("m-1-")}
    cm.discard_model("m", "3", "reg.example/c-m:build-0123")  # no such Deployment: nothing happens
