"""KubernetesContainerManager(query_frontend_workers=N) against the fake API server.

Each query frontend pod runs N workers; worker i takes replicas on RPC port
7000 + i, so every model version gets a Deployment per (frontend, worker),
pointed at that port, and a manager that connects later learns N.
"""

from __future__ import annotations

from collections.abc import Callable

from clipper_admin import KubernetesContainerManager
from tests.kubernetes.fake_apiserver import FakeApiServer

IMAGES = ("clipper/query_frontend:0.1.0", "clipper/management_frontend:0.1.0", "clipper/frontend-exporter:0.1.0")
START = (*IMAGES, 33554432, 1, 5, 300)
WORKER = "ai.clipper.query_frontend.worker"

Manager = Callable[..., KubernetesContainerManager]


def test_workers_get_their_own_rpc_ports_and_replica_deployments(make_manager: Manager,
                                                                  fake_k8s: FakeApiServer) -> None:
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", query_frontend_workers=3)
    cm.start_clipper(*START, num_frontend_replicas=2)
    deployments = fake_k8s.state.objects("apps", "deployments", "default")
    services = fake_k8s.state.objects("", "services", "default")
    for i in (0, 1):
        pod = deployments[f"query-frontend-{i}-at-default-cluster"]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        assert "--workers=3" in container["args"]
        assert pod["metadata"]["labels"]["ai.clipper.query_frontend.workers"] == "3"
        assert sorted(p["containerPort"] for p in container["ports"]) == [1337, 7000, 7001, 7002]
        assert container["resources"]["limits"]["cpu"] == "3"
        rpc = services[f"query-frontend-{i}-at-default-cluster"]["spec"]["ports"]
        assert [(p["port"], p["targetPort"]) for p in rpc] == [(7000, 7000), (7001, 7001), (7002, 7002)]
    assert cm.replica_sets == 6

    cm.deploy_model("sum-model", "1", "doubles", "reg.example/sum-model:1", num_replicas=2)
    deployments = fake_k8s.state.objects("apps", "deployments", "default")
    seen = set()
    for i in (0, 1):
        for w in (0, 1, 2):
            name = f"sum-model-1-deployment-at-{i if w == 0 else f'{i}-{w}'}-at-default-cluster"
            d = deployments[name]
            env = {e["name"]: e["value"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
            assert (env["CLIPPER_IP"], env["CLIPPER_PORT"]) == (f"query-frontend-{i}-at-default-cluster", str(7000 + w))
            # Each selects its own worker's pods only: no two Deployments share a selector.
            assert d["spec"]["selector"]["matchLabels"][WORKER] == str(w) and d["spec"]["replicas"] == 2
            seen.add(tuple(sorted(d["spec"]["selector"]["matchLabels"].items())))
    assert len(seen) == 6

    other = make_manager(kubernetes_proxy_addr="127.0.0.1:8080")
    other.connect()
    assert (other.num_frontend_replicas, other.query_frontend_workers, other.replica_sets) == (2, 3, 6)
    other.set_num_replicas("sum-model", "1", "doubles", "reg.example/sum-model:1", 1)
    scaled = {n: d["spec"]["replicas"] for n, d in fake_k8s.state.objects("apps", "deployments", "default").items()
              if n.startswith("sum-model-1-")}
    assert len(scaled) == 6 and set(scaled.values()) == {1}
    assert other.get_num_replicas("sum-model", "1") == 1
    assert fake_k8s.state.errors == []


def test_one_worker_keeps_the_manifests_of_before(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080")
    cm.start_clipper(*START)
    cm.deploy_model("m", "1", "doubles", "reg.example/m:1")
    deployments = fake_k8s.state.objects("apps", "deployments", "default")
    qf = deployments["query-frontend-0-at-default-cluster"]["spec"]["template"]["spec"]["containers"][0]
    assert not [a for a in qf["args"] if a.startswith("--workers")]
    assert [p["containerPort"] for p in qf["ports"]] == [7000, 1337]
    model = deployments["m-1-deployment-at-0-at-default-cluster"]
    assert WORKER not in model["spec"]["selector"]["matchLabels"]
    env = {e["name"]: e["value"] for e in model["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert env["CLIPPER_PORT"] == "7000" and cm.replica_sets == 1
