"""Fixtures: a fake Kubernetes API server and managers configured to use it.

The manager is pointed at the fake with its ``kube_configuration`` argument
(a ``kubernetes.client.Configuration`` whose host is the fake's URL), so no
kubeconfig file is read or written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from clipper_admin import KubernetesContainerManager
from tests.kubernetes.fake_apiserver import FakeApiServer, FakeKubernetes


@pytest.fixture
def fake_k8s() -> Iterator[FakeApiServer]:
    server = FakeApiServer(FakeKubernetes()).start()
    yield server
    server.stop()


@pytest.fixture
def make_manager(fake_k8s: FakeApiServer) -> Iterator[Callable[..., KubernetesContainerManager]]:
    managers: list[KubernetesContainerManager] = []

    def make(**kwargs: Any) -> KubernetesContainerManager:
        configuration = client.Configuration(host=fake_k8s.url)
        kwargs.setdefault("deployment_timeout_s", 10.0)
        cm = KubernetesContainerManager(kube_configuration=configuration, **kwargs)
        managers.append(cm)
        return cm

    yield make
    for cm in managers:
        cm.close()
