"""The Kubernetes objects of one Clipper cluster, as plain dicts.

Names and labels are the original's (``<component>-at-<cluster>``,
``ai.clipper.container.label=<cluster>``, ``ai.clipper.name=<component>``),
except where the original was wrong: Deployments carry their labels under
``metadata.labels`` (the original wrote ``metadata.label``), and each
per-frontend model Deployment selects on the frontend index too, so the
Deployments of one model version never fight over each other's pods.

Secrets: the cluster's admin token and Redis password live in one Secret
(``clipper-secrets-at-<cluster>``); Redis starts with ``--requirepass``, the
management frontend requires the token, and every frontend gets the
password, all through ``secretKeyRef`` so no secret is in a pod spec.

Nothing here talks to the API; ``KubernetesContainerManager`` sends these.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import yaml

from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_METRIC_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_NAME_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    create_model_container_label,
)
from clipper_admin.kubernetes import pod_spec as ps
from clipper_admin.kubernetes.pod_spec import Json

REDIS_IMAGE = "redis:7.2-alpine"
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
PROMETHEUS_PORT = 9090
#: The name ``kubectl describe service query-frontend`` finds (see query_services).
QUERY_FRONTEND_ALIAS = "query-frontend"
DEFAULT_CLUSTER_NAME = "default-cluster"

DEFAULT_MODEL_RESOURCES: Json = ps.resources("250m", "256Mi", "2", "2Gi")

#: Keys of the cluster Secret.
ADMIN_TOKEN_KEY = "admin-token"
REDIS_PASSWORD_KEY = "redis-password"


@dataclass(frozen=True)
class ClusterSpec:
    """What every object of one cluster needs to know."""

    cluster_name: str
    cluster_identifier: str
    namespace: str
    service_types: dict[str, str]
    image_pull_secrets: list[str] = field(default_factory=list)


# --- names -----------------------------------------------------------------


def redis_name(c: ClusterSpec) -> str:
    return f"redis-at-{c.cluster_name}"


def mgmt_name(c: ClusterSpec) -> str:
    return f"mgmt-frontend-at-{c.cluster_name}"


def query_name(c: ClusterSpec) -> str:
    return f"query-frontend-at-{c.cluster_name}"


def query_replica_name(c: ClusterSpec, index: int) -> str:
    """Deployment and RPC Service of query frontend ``index``."""
    return f"query-frontend-{index}-at-{c.cluster_name}"


def secret_name(c: ClusterSpec) -> str:
    """The Secret holding the admin token and the Redis password."""
    return f"clipper-secrets-at-{c.cluster_name}"


def metrics_name(c: ClusterSpec) -> str:
    return f"metrics-at-{c.cluster_name}"


def prometheus_config_name(c: ClusterSpec) -> str:
    return f"prometheus-config-at-{c.cluster_name}"


def prometheus_rbac_name(c: ClusterSpec) -> str:
    # cluster_identifier, not cluster_name: ClusterRoles are cluster-wide, so
    # equal cluster names in two namespaces must not share one.
    return f"{c.cluster_identifier}-prometheus"


def model_deployment_name(c: ClusterSpec, name: str, version: str, frontend_index: int) -> str:
    return f"{name}-{version}-deployment-at-{frontend_index}-at-{c.cluster_name}"


# --- helpers ---------------------------------------------------------------


def _labels(c: ClusterSpec, component: str, **extra: str) -> dict[str, str]:
    return {CLIPPER_DOCKER_LABEL: c.cluster_name, CLIPPER_NAME_LABEL: component, **extra}


def _meta(c: ClusterSpec, name: str, labels: dict[str, str]) -> Json:
    return {"name": name, "namespace": c.namespace, "labels": dict(labels)}


def _deployment(c: ClusterSpec, name: str, labels: dict[str, str], selector: dict[str, str],
                pod: Json, replicas: int = 1, annotations: dict[str, str] | None = None) -> Json:
    template_meta: Json = {"labels": dict(labels)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(c, name, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def _service(c: ClusterSpec, name: str, labels: dict[str, str], selector: dict[str, str],
             port: int, target_port: int, service_type: str) -> Json:
    # Port names are the port number as text, as the original: connect()
    # finds node ports by these names.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(c, name, labels),
        "spec": {
            "type": service_type,
            "selector": dict(selector),
            "ports": [{"name": str(target_port), "port": port, "targetPort": target_port, "protocol": "TCP"}],
        },
    }


def _pod(c: ClusterSpec, uid: int, containers: list[Json], volumes: list[Json],
         service_account: str | None = None) -> Json:
    pod: Json = {
        "securityContext": ps.pod_security_context(uid),
        "containers": containers,
        "volumes": volumes,
        "automountServiceAccountToken": service_account is not None,
    }
    if service_account:
        pod["serviceAccountName"] = service_account
    secrets = ps.image_pull_secrets(c.image_pull_secrets)
    if secrets:
        pod["imagePullSecrets"] = secrets
    return pod


def _secret_env(c: ClusterSpec, name: str, key: str) -> Json:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name(c), "key": key}}}


def new_secret_value() -> str:
    """A fresh random token or password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


# --- cluster objects -------------------------------------------------------


def cluster_secret(c: ClusterSpec, admin_token: str, redis_password: str) -> Json:
    """The Secret with the admin token and the Redis password ("" means none)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(c, secret_name(c), _labels(c, "secrets")),
        "type": "Opaque",
        "stringData": {ADMIN_TOKEN_KEY: admin_token, REDIS_PASSWORD_KEY: redis_password},
    }


def namespace(name: str) -> Json:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def prometheus_rbac(c: ClusterSpec) -> list[Json]:
    """ServiceAccount, ClusterRole and binding that let Prometheus discover pods.

    The original bound the namespace's ``default`` ServiceAccount; a
    dedicated one keeps that read access away from every other pod.
    """
    name = prometheus_rbac_name(c)
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": _meta(c, metrics_name(c), _labels(c, "metrics"))}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": _labels(c, "prom-cluster-role")},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "services", "endpoints", "pods"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": _labels(c, "prom-cluster-role-binding")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": metrics_name(c), "namespace": c.namespace}],
    }
    return [account, role, binding]


def redis(c: ClusterSpec, redis_port: int, image: str = REDIS_IMAGE) -> list[Json]:
    """Redis Deployment and Service (used only when no ``redis_ip`` is given).

    Redis requires the Secret's password (``$(REDIS_PASSWORD)`` is expanded
    by the kubelet); ``REDISCLI_AUTH`` lets the readiness probe's
    ``redis-cli`` authenticate.
    """
    labels = _labels(c, "redis")
    volume, tmp_mount = ps.tmp_volume()
    container = {
        "name": "redis",
        "image": image,
        "args": ["redis-server", "--port", str(CLIPPER_INTERNAL_REDIS_PORT), "--dir", "/data",
                 "--appendonly", "yes", "--requirepass", "$(REDIS_PASSWORD)"],
        "env": [_secret_env(c, "REDIS_PASSWORD", REDIS_PASSWORD_KEY),
                _secret_env(c, "REDISCLI_AUTH", REDIS_PASSWORD_KEY)],
        "ports": [{"name": "redis", "containerPort": CLIPPER_INTERNAL_REDIS_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("100m", "128Mi", "1", "1Gi"),
        "readinessProbe": ps.exec_probe(["redis-cli", "ping"], 2, 5),
        "livenessProbe": ps.tcp_probe(CLIPPER_INTERNAL_REDIS_PORT, 10, 10),
    }
    pod = _pod(c, ps.REDIS_UID, [container], [{"name": "data", "emptyDir": {}}, volume])
    return [
        _deployment(c, redis_name(c), labels, labels, pod),
        _service(c, redis_name(c), labels, labels, redis_port, CLIPPER_INTERNAL_REDIS_PORT,
                 c.service_types["redis"]),
    ]


def mgmt_frontend(c: ClusterSpec, image: str, redis_ip: str, redis_port: int) -> list[Json]:
    """Management frontend Deployment and Service (1338)."""
    labels = _labels(c, "mgmt-frontend")
    pod_labels = {**labels, CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL: ""}
    volume, tmp_mount = ps.tmp_volume()
    port = CLIPPER_INTERNAL_MANAGEMENT_PORT
    container = {
        "name": "mgmt-frontend",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--redis_ip={redis_ip}", f"--redis_port={redis_port}", "--host=0.0.0.0", f"--port={port}"],
        "env": [_secret_env(c, "CLIPPER_ADMIN_TOKEN", ADMIN_TOKEN_KEY),
                _secret_env(c, "CLIPPER_MGMT_REDIS_PASSWORD", REDIS_PASSWORD_KEY)],
        "ports": [{"name": "http", "containerPort": port}],
        "volumeMounts": [tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("100m", "128Mi", "1", "512Mi"),
        "readinessProbe": ps.http_probe("/ready", port, 2, 5),
        "livenessProbe": ps.http_probe("/admin/ping", port, 10, 10),
    }
    pod = _pod(c, ps.CLIPPER_UID, [container], [volume])
    return [
        _deployment(c, mgmt_name(c), pod_labels, labels, pod),
        _service(c, mgmt_name(c), labels, labels, port, port, c.service_types["management"]),
    ]


def query_frontend(c: ClusterSpec, index: int, image: str, redis_ip: str, redis_port: int,
                   cache_size: int, thread_pool_size: int, timeout_request: int,
                   timeout_content: int) -> list[Json]:
    """Query frontend ``index``: its Deployment and its RPC Service (7000).

    Each frontend has its own RPC Service because model replicas connect to
    exactly one frontend (``CLIPPER_IP``). Prometheus scrapes the frontend's
    own Prometheus endpoint, so no exporter sidecar is needed.
    """
    labels = _labels(c, "query-frontend")
    pod_labels = {**labels, CLIPPER_QUERY_FRONTEND_ID_LABEL: str(index), CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL: ""}
    selector = {**labels, CLIPPER_QUERY_FRONTEND_ID_LABEL: str(index)}
    volume, tmp_mount = ps.tmp_volume()
    query_port = CLIPPER_INTERNAL_QUERY_PORT
    container = {
        "name": "query-frontend",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            f"--redis_ip={redis_ip}", f"--redis_port={redis_port}",
            f"--rpc_service_port={CLIPPER_INTERNAL_RPC_PORT}", f"--prediction_cache_size={cache_size}",
            f"--thread_pool_size={thread_pool_size}", f"--timeout_request={timeout_request}",
            f"--timeout_content={timeout_content}", "--host=0.0.0.0", f"--query_port={query_port}",
        ],
        "env": [_secret_env(c, "CLIPPER_QF_REDIS_PASSWORD", REDIS_PASSWORD_KEY)],
        "ports": [{"name": "rpc", "containerPort": CLIPPER_INTERNAL_RPC_PORT},
                  {"name": "http", "containerPort": query_port}],
        "volumeMounts": [tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("250m", "256Mi", "2", "2Gi"),
        "readinessProbe": ps.http_probe("/ready", query_port, 2, 5),
        # /healthz, not /ready: a frontend that lost Redis keeps serving from
        # its snapshot and must not be restarted for it.
        "livenessProbe": ps.http_probe("/healthz", query_port, 10, 10),
    }
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(query_port),
                   "prometheus.io/path": "/metrics/prometheus"}
    pod = _pod(c, ps.CLIPPER_UID, [container], [volume])
    name = query_replica_name(c, index)
    return [
        _deployment(c, name, pod_labels, selector, pod, annotations=annotations),
        _service(c, name, pod_labels, selector, CLIPPER_INTERNAL_RPC_PORT, CLIPPER_INTERNAL_RPC_PORT,
                 c.service_types["query-rpc"]),
    ]


def query_services(c: ClusterSpec) -> list[Json]:
    """The Service in front of every query frontend (1337).

    ``query-frontend-at-<cluster>`` as the original; the default cluster also
    gets ``query-frontend``, the name users look up with ``kubectl describe
    service query-frontend`` (the name older Clipper releases used). Only the
    default cluster takes it, so two clusters in one namespace never collide.
    """
    labels = _labels(c, "query-frontend")
    port = CLIPPER_INTERNAL_QUERY_PORT
    services = [_service(c, query_name(c), labels, labels, port, port, c.service_types["query"])]
    if c.cluster_name == DEFAULT_CLUSTER_NAME:
        services.append(_service(c, QUERY_FRONTEND_ALIAS, labels, labels, port, port, c.service_types["query"]))
    return services


def prometheus_config(c: ClusterSpec) -> str:
    """``prometheus.yml``: scrape the pods of this cluster annotated for it."""
    pod_label = "__meta_kubernetes_pod_label_"
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [{
            "job_name": "Clipper Metrics",
            "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [c.namespace]}}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                 "action": "keep", "regex": "true"},
                {"source_labels": [pod_label + "ai_clipper_container_label"], "action": "keep",
                 "regex": c.cluster_name},
                {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                 "action": "replace", "target_label": "__metrics_path__", "regex": "(.+)"},
                {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                 "action": "replace", "regex": r"([^:]+)(?::\d+)?;(\d+)", "replacement": "$1:$2",
                 "target_label": "__address__"},
                {"action": "labelmap", "regex": pod_label + "(ai_clipper_(?:metric|model_container)_label)"},
            ],
        }],
    }
    return yaml.safe_dump(config, sort_keys=False)


def prometheus(c: ClusterSpec, image: str = PROMETHEUS_IMAGE) -> list[Json]:
    """Prometheus ConfigMap, Deployment and Service (9090)."""
    labels = _labels(c, "metrics")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(c, prometheus_config_name(c), labels),
        "data": {"prometheus.yml": prometheus_config(c)},
    }
    volume, tmp_mount = ps.tmp_volume()
    container = {
        "name": "prometheus",
        "image": image,
        "args": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                 "--storage.tsdb.retention.time=2d"],
        "ports": [{"name": "http", "containerPort": PROMETHEUS_PORT}],
        "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
                         {"name": "data", "mountPath": "/prometheus"}, tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("100m", "256Mi", "1", "1Gi"),
        "readinessProbe": ps.http_probe("/-/ready", PROMETHEUS_PORT, 5, 5),
        "livenessProbe": ps.http_probe("/-/healthy", PROMETHEUS_PORT, 15, 10),
    }
    volumes = [{"name": "config", "configMap": {"name": prometheus_config_name(c)}},
               {"name": "data", "emptyDir": {}}, volume]
    pod = _pod(c, ps.PROMETHEUS_UID, [container], volumes, service_account=metrics_name(c))
    return [
        config_map,
        _deployment(c, metrics_name(c), labels, labels, pod),
        _service(c, metrics_name(c), labels, labels, PROMETHEUS_PORT, PROMETHEUS_PORT, c.service_types["metric"]),
    ]


# --- models ----------------------------------------------------------------


def model_deployment(c: ClusterSpec, name: str, version: str, input_type: str, image: str,
                     num_replicas: int, frontend_index: int, resources: Json | None = None) -> Json:
    """The replicas of ``name:version`` that serve query frontend ``frontend_index``.

    The root filesystem stays writable: user models (and original Clipper
    images) write where they like, e.g. the readiness file.
    """
    model_label = create_model_container_label(name, version)
    labels = _labels(c, "model", **{CLIPPER_MODEL_CONTAINER_LABEL: model_label})
    selector = {**labels, CLIPPER_QUERY_FRONTEND_ID_LABEL: str(frontend_index)}
    env = [
        {"name": "CLIPPER_MODEL_NAME", "value": name},
        {"name": "CLIPPER_MODEL_VERSION", "value": str(version)},
        {"name": "CLIPPER_IP", "value": query_replica_name(c, frontend_index)},
        {"name": "CLIPPER_PORT", "value": str(CLIPPER_INTERNAL_RPC_PORT)},
        {"name": "CLIPPER_INPUT_TYPE", "value": input_type},
    ]
    container = {
        "name": "model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": [{"name": "metrics", "containerPort": CLIPPER_INTERNAL_METRIC_PORT}],
        "securityContext": ps.container_security_context(read_only_root=False),
        "resources": resources or DEFAULT_MODEL_RESOURCES,
        # Our images set CLIPPER_READY_FILE; the original's wrote /model_is_ready.check.
        "readinessProbe": ps.exec_probe(
            ["sh", "-c", 'test -f "${CLIPPER_READY_FILE:-/model_is_ready.check}"'], 3, 3),
        "livenessProbe": ps.tcp_probe(CLIPPER_INTERNAL_METRIC_PORT, 30, 10, failure_threshold=6),
    }
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(CLIPPER_INTERNAL_METRIC_PORT)}
    pod = _pod(c, ps.CLIPPER_UID, [container], [])
    return _deployment(c, model_deployment_name(c, name, version, frontend_index), selector, selector, pod,
                       replicas=num_replicas, annotations=annotations)


def cluster_objects(c: ClusterSpec, *, query_frontend_image: str, mgmt_frontend_image: str, redis_ip: str | None,
                    redis_port: int, cache_size: int, thread_pool_size: int, timeout_request: int,
                    timeout_content: int, num_frontend_replicas: int, admin_token: str | None = None,
                    redis_password: str | None = None) -> list[Json]:
    """Every object ``start_clipper`` creates, in creation order (namespace excluded).

    The Secret comes first. ``admin_token`` None: a fresh random one (the
    admin API is never open on Kubernetes). ``redis_password`` None: a fresh
    random one for the Redis deployed here, none for an external Redis.
    """
    token = new_secret_value() if admin_token is None else admin_token
    if redis_password is None:
        redis_password = new_secret_value() if redis_ip is None else ""
    objects = [cluster_secret(c, token, redis_password)]
    objects += prometheus_rbac(c)
    if redis_ip is None:
        objects += redis(c, redis_port)
        redis_ip = redis_name(c)
    objects += mgmt_frontend(c, mgmt_frontend_image, redis_ip, redis_port)
    for i in range(num_frontend_replicas):
        objects += query_frontend(c, i, query_frontend_image, redis_ip, redis_port, cache_size,
                                  thread_pool_size, timeout_request, timeout_content)
    objects += query_services(c)
    objects += prometheus(c)
    return objects
