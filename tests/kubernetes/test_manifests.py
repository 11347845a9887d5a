"""Every object in k8s/ and every object the manager builds: schema-valid and hardened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from clipper_admin.kubernetes import manifests as m
from clipper_admin.kubernetes.kubernetes_container_manager import DEFAULT_SERVICE_TYPES
from tests.kubernetes.fake_apiserver import K8S_VERSION
from tests.kubernetes.hardening import auth_problems, hardening_problems, pod_template
from tests.kubernetes.kustomize_render import kubectl, render, render_simple

K8S = Path(__file__).resolve().parents[2] / "k8s"
TARGETS = ["", "overlays/external-redis", "overlays/scale-frontends"]
CLUSTER = "ai.clipper.container.label"
NAME = "ai.clipper.name"

Json = dict[str, Any]


def by_name(objects: list[Json]) -> dict[tuple[str, str], Json]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def validate(obj: Json) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def spec(**kwargs: Any) -> m.ClusterSpec:
    defaults: dict[str, Any] = {"cluster_name": "default-cluster", "cluster_identifier": "default-cluster",
                                "namespace": "default", "service_types": dict(DEFAULT_SERVICE_TYPES)}
    return m.ClusterSpec(**{**defaults, **kwargs})


def built(c: m.ClusterSpec, redis_ip: str | None = None, frontends: int = 1) -> list[Json]:
    return m.cluster_objects(c, query_frontend_image="clipper/query_frontend:0.1.0",
                             mgmt_frontend_image="clipper/management_frontend:0.1.0", redis_ip=redis_ip,
                             redis_port=6379, cache_size=33554432, thread_pool_size=1, timeout_request=5,
                             timeout_content=300, num_frontend_replicas=frontends)


# --- k8s/ -------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_rendered_manifests_validate_and_are_hardened(target: str) -> None:
    objects = render(K8S / target)
    assert len(objects) >= 10
    for obj in objects:
        validate(obj)
        assert hardening_problems(obj) == []
        assert obj["metadata"]["labels"][CLUSTER] == "default-cluster", obj["metadata"]["name"]


@pytest.mark.parametrize("target", TARGETS)
def test_rendered_manifests_require_token_and_redis_password(target: str) -> None:
    objects = render(K8S / target)
    assert auth_problems(objects, external_redis=target.endswith("external-redis")) == []
    # The Secret they name is left to the user (k8s/README.md says how): none is committed.
    assert not [o for o in objects if o["kind"] == "Secret"]
    readme = (K8S / "README.md").read_text()
    assert "kubectl create secret generic clipper-secrets-at-default-cluster" in readme
    assert "--from-literal=admin-token=" in readme and "--from-literal=redis-password=" in readme


def test_every_resource_file_parses_and_validates() -> None:
    files = [p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"]
    assert len(files) >= 10
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if "$patch" in doc:
                continue  # a deletion patch is a partial object
            validate(doc)


@pytest.mark.parametrize("target", TARGETS)
def test_tiny_renderer_agrees_with_kubectl(target: str) -> None:
    simple = by_name(render_simple(K8S / target))
    if kubectl() is not None:
        assert by_name(render(K8S / target)) == simple


def test_base_is_a_cluster_the_manager_can_connect_to() -> None:
    objects = by_name(render(K8S))
    query = objects[("Service", "query-frontend")]
    assert query["spec"]["type"] == "NodePort"
    assert query["spec"]["ports"] == [{"name": "1337", "port": 1337, "targetPort": 1337, "protocol": "TCP"}]
    assert query["metadata"]["labels"] == {CLUSTER: "default-cluster", NAME: "query-frontend"}
    assert objects[("Service", "mgmt-frontend-at-default-cluster")]["spec"]["ports"][0]["port"] == 1338
    assert objects[("Service", "redis-at-default-cluster")]["spec"]["ports"][0]["port"] == 6379
    # Same names, labels, selectors and ports as the manager creates for default-cluster.
    manager_objects = by_name(built(spec()))
    for key, obj in objects.items():
        if key in manager_objects:
            theirs = manager_objects[key]
            assert obj["metadata"]["labels"] == theirs["metadata"]["labels"], key
            if obj["kind"] in ("Deployment", "Service"):
                assert obj["spec"]["selector"] == theirs["spec"]["selector"], key
            if obj["kind"] == "Service":
                assert [p["port"] for p in obj["spec"]["ports"]] == [p["port"] for p in theirs["spec"]["ports"]]
    # The Secret is the one object k8s/ leaves to the user (k8s/README.md):
    # committing a token or password would make it everyone's.
    missing = set(manager_objects) - set(objects)
    assert missing == {("Secret", "clipper-secrets-at-default-cluster")}, missing


def test_base_probes_images_and_redis_volume() -> None:
    objects = by_name(render(K8S))
    qf = objects[("Deployment", "query-frontend-0-at-default-cluster")]["spec"]["template"]["spec"]["containers"][0]
    assert qf["image"] == "clipper/query_frontend:0.1.0"
    assert qf["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 1337}
    mgmt = objects[("Deployment", "mgmt-frontend-at-default-cluster")]["spec"]["template"]["spec"]["containers"][0]
    assert mgmt["image"] == "clipper/management_frontend:0.1.0"
    assert mgmt["livenessProbe"]["httpGet"] == {"path": "/admin/ping", "port": 1338}
    redis = objects[("Deployment", "redis-at-default-cluster")]["spec"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in redis["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["redis-data-at-default-cluster"]
    assert ("PersistentVolumeClaim", "redis-data-at-default-cluster") in objects
    config = objects[("ConfigMap", "clipper-config-at-default-cluster")]["data"]
    assert config == {"REDIS_IP": "redis-at-default-cluster", "REDIS_PORT": "6379"}


def test_external_redis_overlay_has_no_redis() -> None:
    objects = render(K8S / "overlays/external-redis")
    assert not [o for o in objects if o["metadata"]["labels"].get(NAME) == "redis"]
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    config = by_name(objects)[("ConfigMap", "clipper-config-at-default-cluster")]["data"]
    assert config["REDIS_IP"] == "redis.example.internal"
    for obj in objects:
        pod = pod_template(obj)
        if pod and obj["metadata"]["labels"][NAME] in ("query-frontend", "mgmt-frontend"):
            container = pod["containers"][0]
            assert "--redis_ip=$(REDIS_IP)" in container["args"]
            refs = {e["valueFrom"]["configMapKeyRef"]["name"] for e in container["env"]
                    if "configMapKeyRef" in e["valueFrom"]}
            assert refs == {"clipper-config-at-default-cluster"}


def test_scale_frontends_overlay_adds_frontends_with_their_own_rpc_services() -> None:
    objects = render(K8S / "overlays/scale-frontends")
    frontends = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["labels"][NAME] == "query-frontend"]
    ids = sorted(o["spec"]["template"]["metadata"]["labels"]["ai.clipper.query_frontend.id"] for o in frontends)
    assert ids == ["0", "1", "2"]
    named = by_name(objects)
    shared = named[("Service", "query-frontend-at-default-cluster")]["spec"]["selector"]
    for i in ids:
        rpc = named[("Service", f"query-frontend-{i}-at-default-cluster")]["spec"]
        assert rpc["selector"]["ai.clipper.query_frontend.id"] == i and rpc["ports"][0]["port"] == 7000
        pod_labels = named[("Deployment", f"query-frontend-{i}-at-default-cluster")]["spec"]["template"]["metadata"][
            "labels"]
        assert shared.items() <= pod_labels.items() and rpc["selector"].items() <= pod_labels.items()


# --- objects the manager builds ----------------------------------------------------------


CONFIGS = {
    "default": (spec(), None, 1),
    "external-redis-3-frontends": (spec(), "redis.example.internal", 3),
    "namespaced-load-balancers": (spec(cluster_name="prod", cluster_identifier="team-a-prod", namespace="team-a",
                                       service_types={**DEFAULT_SERVICE_TYPES, "query": "LoadBalancer",
                                                      "redis": "ClusterIP"},
                                       image_pull_secrets=["regkey"]), None, 2),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_manager_objects_validate_and_are_hardened(config: str) -> None:
    c, redis_ip, frontends = CONFIGS[config]
    objects = built(c, redis_ip, frontends)
    objects += [m.model_deployment(c, "sum-model", "1", "doubles", "reg/sum:1", 2, i) for i in range(frontends)]
    for obj in objects:
        validate(obj)
        assert hardening_problems(obj, writable_root_ok=obj["metadata"]["labels"].get(NAME) == "model") == []
        assert "label" not in obj["metadata"]  # the original's typo
        assert obj["metadata"]["labels"][CLUSTER] == c.cluster_name
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == c.namespace
        pod = pod_template(obj)
        if pod is not None:
            assert pod.get("imagePullSecrets", []) == [{"name": s} for s in c.image_pull_secrets]
            assert obj["spec"]["selector"]["matchLabels"].items() <= obj["spec"]["template"]["metadata"][
                "labels"].items()
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert ("query-frontend" in names) == (c.cluster_name == "default-cluster")
    assert auth_problems(objects, external_redis=redis_ip is not None) == []
    assert not [o for o in objects if o["metadata"]["labels"][NAME] == "redis"] or redis_ip is None


def test_manager_secret_holds_fresh_random_credentials() -> None:
    secrets = [[o for o in built(spec(), redis_ip) if o["kind"] == "Secret"] for redis_ip in (None, None, "ext")]
    assert all(len(s) == 1 for s in secrets)
    (a,), (b,), (external,) = secrets
    assert a["metadata"]["name"] == m.secret_name(spec()) == "clipper-secrets-at-default-cluster"
    token, password = a["stringData"][m.ADMIN_TOKEN_KEY], a["stringData"][m.REDIS_PASSWORD_KEY]
    assert len(token) >= 32 and len(password) >= 32 and token != password
    assert token != b["stringData"][m.ADMIN_TOKEN_KEY]  # never a fixed default
    assert external["stringData"][m.REDIS_PASSWORD_KEY] == ""  # an external Redis: none unless given
    rpc = a["stringData"][m.RPC_SECRET_KEY]
    assert len(rpc) >= 32 and rpc not in (token, password, b["stringData"][m.RPC_SECRET_KEY])
    given = m.cluster_objects(spec(), query_frontend_image="q", mgmt_frontend_image="mg", redis_ip=None,
                              redis_port=6379, cache_size=1, thread_pool_size=1, timeout_request=5,
                              timeout_content=300, num_frontend_replicas=1, admin_token="tok", redis_password="pw",
                              rpc_secret="")
    assert given[0]["stringData"] == {m.ADMIN_TOKEN_KEY: "tok", m.REDIS_PASSWORD_KEY: "pw", m.RPC_SECRET_KEY: ""}
    validate(given[0])


def test_the_rpc_secret_reaches_the_frontends_and_every_replica_from_the_secret() -> None:
    objects = by_name(built(spec()))
    qf = objects[("Deployment", "query-frontend-0-at-default-cluster")]["spec"]["template"]["spec"]["containers"][0]
    model = m.model_deployment(spec(), "sum-model", "1", "doubles", "img", 1, 0)
    ref = {"name": "clipper-secrets-at-default-cluster", "key": "rpc-secret", "optional": True}
    for env, name in ((qf["env"], "CLIPPER_QF_RPC_SECRET"),
                      (model["spec"]["template"]["spec"]["containers"][0]["env"], "CLIPPER_RPC_SECRET")):
        (entry,) = [e for e in env if e["name"] == name]
        assert entry == {"name": name, "valueFrom": {"secretKeyRef": ref}}  # never the value itself
    secret = objects[("Secret", "clipper-secrets-at-default-cluster")]["stringData"]["rpc-secret"]
    assert all(secret not in str(o) for k, o in objects.items() if k[0] != "Secret")


def test_model_deployments_of_different_frontends_never_share_pods() -> None:
    c = spec()
    a, b = (m.model_deployment(c, "sum-model", "1", "doubles", "img", 2, i) for i in (0, 1))
    assert a["metadata"]["name"] == "sum-model-1-deployment-at-0-at-default-cluster"
    assert a["metadata"]["labels"] == {CLUSTER: "default-cluster", NAME: "model",
                                       "ai.clipper.model_container.label": "sum-model_1",
                                       "ai.clipper.query_frontend.id": "0"}
    pod_b = b["spec"]["template"]["metadata"]["labels"]
    assert not a["spec"]["selector"]["matchLabels"].items() <= pod_b.items()
    env = {e["name"]: e["value"] for e in a["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert env == {"CLIPPER_MODEL_NAME": "sum-model", "CLIPPER_MODEL_VERSION": "1",
                   "CLIPPER_IP": "query-frontend-0-at-default-cluster", "CLIPPER_PORT": "7000",
                   "CLIPPER_INPUT_TYPE": "doubles"}
    assert a["spec"]["replicas"] == 2


def test_prometheus_config_keeps_only_this_clusters_pods() -> None:
    config = yaml.safe_load(m.prometheus_config(spec(cluster_name="c1", namespace="ns")))
    job = config["scrape_configs"][0]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["ns"]}}]
    keep = [r for r in job["relabel_configs"] if r["action"] == "keep"]
    assert [r["regex"] for r in keep] == ["true", "c1"]


def test_prometheus_loads_the_shipped_alert_rules_in_base_and_manager_objects() -> None:
    shipped = (Path(m.__file__).resolve().parents[1] / "monitoring" / "alert_rules.yaml").read_text()
    base = next(o for o in yaml.safe_load_all((K8S / "base" / "prometheus.yaml").read_text())
                if o and o["kind"] == "ConfigMap")
    built_maps = [o for o in built(spec()) if o["kind"] == "ConfigMap" and "prometheus.yml" in o["data"]]
    assert len(built_maps) == 1
    for data in (base["data"], built_maps[0]["data"]):
        # k8s/base holds a copy: it must be the shipped file, byte for byte.
        assert data["alert_rules.yaml"] == shipped
        assert yaml.safe_load(data["prometheus.yml"])["rule_files"] == ["alert_rules.yaml"]
    rules = yaml.safe_load(shipped)
    assert [r["alert"] for g in rules["groups"] for r in g["rules"]], "no alert is shipped"
