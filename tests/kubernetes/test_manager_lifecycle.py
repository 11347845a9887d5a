"""KubernetesContainerManager's whole life cycle against a fake Kubernetes API server.

The fake validates every object it is sent against the official schema and
records every request; assertions are on the objects the manager created.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clipper_admin import KubernetesContainerManager
from clipper_admin.exceptions import ClipperException
from tests.kubernetes.fake_apiserver import FakeApiServer

CLUSTER = "ai.clipper.container.label"
NAME = "ai.clipper.name"
MODEL = "ai.clipper.model_container.label"
IMAGES = ("clipper/query_frontend:0.1.0", "clipper/management_frontend:0.1.0", "clipper/frontend-exporter:0.1.0")
START = (*IMAGES, 33554432, 1, 5, 300)

Manager = Callable[..., KubernetesContainerManager]


def names(fake: FakeApiServer, group: str, plural: str, ns: str = "default") -> set[str]:
    return set(fake.state.objects(group, plural, ns))


def deployments(fake: FakeApiServer, ns: str = "default") -> dict[str, dict]:
    return fake.state.objects("apps", "deployments", ns)


def test_start_deploy_scale_logs_connect_and_stop(make_manager: Manager, fake_k8s: FakeApiServer,
                                                  tmp_path: Path) -> None:
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080", useInternalIP=True, image_pull_secrets=["regkey"])
    cm.start_clipper(*START, num_frontend_replicas=2)

    # -- start_clipper: every object, with the original's names and labels
    assert names(fake_k8s, "apps", "deployments") == {
        "redis-at-default-cluster", "mgmt-frontend-at-default-cluster", "query-frontend-0-at-default-cluster",
        "query-frontend-1-at-default-cluster", "metrics-at-default-cluster"}
    services = fake_k8s.state.objects("", "services", "default")
    assert set(services) == {
        "redis-at-default-cluster", "mgmt-frontend-at-default-cluster", "query-frontend-0-at-default-cluster",
        "query-frontend-1-at-default-cluster", "query-frontend-at-default-cluster", "query-frontend",
        "metrics-at-default-cluster"}
    assert names(fake_k8s, "", "configmaps") == {"prometheus-config-at-default-cluster"}
    assert names(fake_k8s, "rbac.authorization.k8s.io", "clusterroles", "") == {"default-cluster-prometheus"}
    for alias in ("query-frontend", "query-frontend-at-default-cluster"):
        svc = services[alias]
        assert svc["metadata"]["labels"] == {CLUSTER: "default-cluster", NAME: "query-frontend"}
        assert svc["spec"]["type"] == "NodePort" and svc["spec"]["selector"] == svc["metadata"]["labels"]
        assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("1337", 1337, 1337)]
    rpc = services["query-frontend-1-at-default-cluster"]["spec"]
    assert rpc["selector"]["ai.clipper.query_frontend.id"] == "1" and rpc["ports"][0]["port"] == 7000

    found = deployments(fake_k8s)
    mgmt = found["mgmt-frontend-at-default-cluster"]
    assert mgmt["metadata"]["labels"] == {CLUSTER: "default-cluster", NAME: "mgmt-frontend",
                                          "ai.clipper.management_frontend.label": ""}
    mgmt_pod = mgmt["spec"]["template"]["spec"]
    assert mgmt_pod["imagePullSecrets"] == [{"name": "regkey"}]
    assert mgmt_pod["containers"][0]["image"] == IMAGES[1]
    assert mgmt_pod["containers"][0]["args"][:2] == ["--redis_ip=redis-at-default-cluster", "--redis_port=6379"]
    qf_args = found["query-frontend-0-at-default-cluster"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--prediction_cache_size=33554432" in qf_args and "--timeout_content=300" in qf_args

    # Creation order: RBAC, Redis (waited for), mgmt, query, Prometheus.
    created = [(r.body["kind"], r.body["metadata"]["name"]) for r in fake_k8s.state.requests if r.method == "POST"]
    kinds = [k for k, _ in created]
    assert kinds.index("ClusterRoleBinding") < created.index(("Deployment", "redis-at-default-cluster")) \
        < created.index(("Deployment", "mgmt-frontend-at-default-cluster")) \
        < created.index(("Deployment", "query-frontend-0-at-default-cluster")) \
        < created.index(("Deployment", "metrics-at-default-cluster"))

    # -- addresses through kubectl proxy
    proxy = "127.0.0.1:8080/api/v1/namespaces/default/services"
    assert cm.get_query_addr() == f"{proxy}/query-frontend-at-default-cluster:1337/proxy"
    assert cm.get_admin_addr() == f"{proxy}/mgmt-frontend-at-default-cluster:1338/proxy"
    assert cm.get_metric_addr() == f"{proxy}/metrics-at-default-cluster:9090/proxy"

    # -- deploy_model: one Deployment per query frontend
    cm.deploy_model("sum-model", "1", "doubles", "reg.example/sum-model:1", num_replicas=2)
    found = deployments(fake_k8s)
    for i in (0, 1):
        d = found[f"sum-model-1-deployment-at-{i}-at-default-cluster"]
        assert d["metadata"]["labels"][MODEL] == "sum-model_1" and d["spec"]["replicas"] == 2
        container = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        assert env["CLIPPER_IP"] == f"query-frontend-{i}-at-default-cluster"
        assert (env["CLIPPER_MODEL_NAME"], env["CLIPPER_MODEL_VERSION"], env["CLIPPER_INPUT_TYPE"]) == (
            "sum-model", "1", "doubles")
        assert container["image"] == "reg.example/sum-model:1"
        assert d["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regkey"}]
    assert cm.get_num_replicas("sum-model", "1") == 2

    # -- set_num_replicas: a merge patch of each Deployment's scale
    cm.set_num_replicas("sum-model", "1", "doubles", "reg.example/sum-model:1", 3)
    patches = [r for r in fake_k8s.state.requests if r.method == "PATCH"]
    assert [(r.path.rsplit("/", 2)[-2], r.body) for r in patches] == [
        (f"sum-model-1-deployment-at-{i}-at-default-cluster", {"spec": {"replicas": 3}}) for i in (0, 1)]
    assert all(r.content_type == "application/merge-patch+json" for r in patches)
    assert {d["spec"]["replicas"] for n, d in deployments(fake_k8s).items() if n.startswith("sum-model")} == {3}
    assert cm.get_num_replicas("sum-model", "1") == 3

    # -- get_logs: one file per container of every pod of the cluster
    files = cm.get_logs(str(tmp_path / "logs"))
    pods = names(fake_k8s, "", "pods")
    assert sorted(Path(f).name for f in files) == sorted(f"{p}_0.log" for p in pods)
    some_pod = "sum-model-1-deployment-at-1-at-default-cluster-2"
    assert (tmp_path / "logs" / f"{some_pod}_0.log").read_text() == f"log of {some_pod}/model\n"

    # -- connect from a second manager: same addresses, frontends counted
    other = make_manager(kubernetes_proxy_addr="127.0.0.1:8080")
    other.connect()
    assert other.num_frontend_replicas == 2
    assert other.get_query_addr() == cm.get_query_addr()
    assert other.get_num_replicas("sum-model", "1") == 3

    # -- stop_models: only that version's workloads, by label selector
    cm.deploy_model("sum-model", "2", "doubles", "reg.example/sum-model:2")
    cm.stop_models({"sum-model": ["1"]})
    deletes = [(r.path, r.query.get("labelSelector")) for r in fake_k8s.state.requests if r.method == "DELETE"]
    selector = "ai.clipper.model_container.label=sum-model_1, ai.clipper.container.label=default-cluster"
    assert deletes == [("/apis/apps/v1/namespaces/default/deployments", selector),
                       ("/apis/apps/v1/namespaces/default/replicasets", selector),
                       ("/api/v1/namespaces/default/pods", selector)]
    remaining = deployments(fake_k8s)
    assert not [n for n in remaining if n.startswith("sum-model-1-")]
    assert {n for n in remaining if n.startswith("sum-model-2-")} == {
        f"sum-model-2-deployment-at-{i}-at-default-cluster" for i in (0, 1)}
    assert not [p for p in names(fake_k8s, "", "pods") if p.startswith("sum-model-1-")]
    assert "mgmt-frontend-at-default-cluster" in remaining

    # -- stop_all_model_containers: every model, nothing else
    cm.stop_all_model_containers()
    remaining = deployments(fake_k8s)
    assert not [n for n in remaining if n.startswith("sum-model")] and len(remaining) == 5
    assert not [p for p in names(fake_k8s, "", "pods") if p.startswith("sum-model")]

    # -- stop_all: every object of the cluster; namespace and nodes stay
    cm.stop_all()
    left = {key: objs for key, objs in fake_k8s.state.store.items() if objs}
    assert set(left) == {("", "namespaces", ""), ("", "nodes", "")}
    assert fake_k8s.state.errors == []


def test_connect_through_node_ports(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    cm = make_manager(useInternalIP=True)
    cm.start_clipper(*START)
    services = fake_k8s.state.objects("", "services", "default")
    node_port = services["query-frontend-at-default-cluster"]["spec"]["ports"][0]["nodePort"]
    assert cm.get_query_addr() == f"10.0.0.5:{node_port}"
    admin_port = services["mgmt-frontend-at-default-cluster"]["spec"]["ports"][0]["nodePort"]
    assert cm.get_admin_addr() == f"10.0.0.5:{admin_port}"
    with pytest.raises(ClipperException, match="No external node addresses found. You may pass in "
                                                r"KubernetesContainerManager\(useInternalIP=True\)"):
        make_manager().connect()
    assert fake_k8s.state.errors == []


def test_load_balancer_addresses(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    types = {"redis": "ClusterIP", "management": "LoadBalancer", "query": "LoadBalancer", "query-rpc": "ClusterIP",
             "metric": "LoadBalancer"}
    cm = make_manager(service_types=types)
    cm.start_clipper(*START)
    assert (cm.get_query_addr(), cm.get_admin_addr(), cm.get_metric_addr()) == (
        "203.0.113.7:1337", "203.0.113.7:1338", "203.0.113.7:9090")
    assert fake_k8s.state.objects("", "services", "default")["redis-at-default-cluster"]["spec"]["type"] == "ClusterIP"


def test_external_redis_creates_no_redis(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    cm = make_manager(cluster_name="c2", redis_ip="redis.example.internal", redis_port=6380,
                      kubernetes_proxy_addr="127.0.0.1:8080")
    cm.start_clipper(*START)
    found = deployments(fake_k8s)
    assert "redis-at-c2" not in found and "redis-at-c2" not in names(fake_k8s, "", "services")
    args = found["mgmt-frontend-at-c2"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["--redis_ip=redis.example.internal", "--redis_port=6380"]
    # Only the default cluster takes the plain query-frontend name.
    assert "query-frontend" not in names(fake_k8s, "", "services")


def test_namespace_must_exist_unless_created(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    with pytest.raises(ClipperException, match="Namespace does not exist"):
        make_manager(namespace="team-a").start_clipper(*START)
    assert names(fake_k8s, "apps", "deployments", "team-a") == set()
    cm = make_manager(namespace="team-a", create_namespace_if_not_exists=True, kubernetes_proxy_addr="p:1")
    cm.start_clipper(*START)
    assert "team-a" in names(fake_k8s, "", "namespaces", "")
    assert "mgmt-frontend-at-default-cluster" in names(fake_k8s, "apps", "deployments", "team-a")
    assert names(fake_k8s, "rbac.authorization.k8s.io", "clusterroles", "") == {"team-a-default-cluster-prometheus"}
    assert cm.get_admin_addr() == "p:1/api/v1/namespaces/team-a/services/mgmt-frontend-at-default-cluster:1338/proxy"
    assert fake_k8s.state.errors == []


def test_deployment_that_never_becomes_available_times_out(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    fake_k8s.state.available = False
    cm = make_manager(redis_ip="redis", kubernetes_proxy_addr="p:1", deployment_timeout_s=0.2)
    cm.start_clipper(*START)
    with pytest.raises(ClipperException) as e:
        cm.deploy_model("m", "1", "doubles", "img")
    assert str(e.value) == "Could not create a Kubernetes deployment. Model: m-1 Image: img"


def test_second_start_ignores_existing_objects(make_manager: Manager, fake_k8s: FakeApiServer) -> None:
    cm = make_manager(kubernetes_proxy_addr="p:1")
    cm.start_clipper(*START)
    first = len(fake_k8s.state.requests)
    cm.start_clipper(*START)  # "already exists" is not an error, as the original
    again = [r for r in fake_k8s.state.requests[first:] if r.method == "POST"]
    # Redis is not created again: the first start set redis_ip, as the original.
    assert len(again) == 13 and "redis-at-default-cluster" not in {r.body["metadata"]["name"] for r in again}
    assert fake_k8s.state.errors == []


def test_default_configuration_comes_from_the_kubeconfig(fake_k8s: FakeApiServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters: [{{name: fake, cluster: {{server: '{fake_k8s.url}'}}}}]\n"
        "users: [{name: me, user: {token: t0ken}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: me}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    cm = KubernetesContainerManager(kubernetes_proxy_addr="127.0.0.1:8080")
    try:
        cm.start_clipper(*START)
        assert "mgmt-frontend-at-default-cluster" in names(fake_k8s, "apps", "deployments")
    finally:
        cm.close()


def test_no_configuration_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClipperException, match="No Kubernetes configuration found: kubeconfig: .*; in-cluster: "):
        KubernetesContainerManager().connect()


def test_admin_token_lives_in_a_secret_that_connect_reads(make_manager: Manager, fake_k8s: FakeApiServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from clipper_admin import ClipperConnection

    monkeypatch.delenv("CLIPPER_ADMIN_TOKEN", raising=False)
    cm = make_manager(kubernetes_proxy_addr="127.0.0.1:8080")
    cm.start_clipper(*START)
    secret = fake_k8s.state.objects("", "secrets", "default")["clipper-secrets-at-default-cluster"]
    token = secret["stringData"]["admin-token"]
    assert cm.admin_token == token and len(token) >= 32
    assert secret["stringData"]["redis-password"]
    mgmt = deployments(fake_k8s)["mgmt-frontend-at-default-cluster"]["spec"]["template"]["spec"]["containers"][0]
    assert token not in str(mgmt)  # only a secretKeyRef in the pod spec
    # Another process attaching to the cluster learns the token from the Secret.
    other = make_manager(kubernetes_proxy_addr="127.0.0.1:8080")
    assert other.admin_token is None
    conn = ClipperConnection(other)
    conn.connect()
    assert other.admin_token == token and conn.admin_token == token
    # An explicit token wins; stop_all deletes the Secret with the rest.
    assert ClipperConnection(other, admin_token="mine").admin_token == "mine"
    cm.stop_all()
    assert names(fake_k8s, "", "secrets") == set()
    assert fake_k8s.state.errors == []
