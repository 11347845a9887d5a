"""The core of a Kubernetes cluster: Redis, the management frontend, the query frontends.

Redis requires the cluster Secret's password; the management frontend
requires the admin token; every frontend gets the password. Each query
frontend has its own Deployment and RPC Service (model replicas connect to
exactly one), and one Service fronts all of them for queries.
"""

from __future__ import annotations

from clipper_admin.container_manager import (
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKERS_LABEL,
)
from clipper_admin.kubernetes import pod_spec as ps
from clipper_admin.kubernetes.cluster_spec import (
    DEFAULT_CLUSTER_NAME,
    QUERY_FRONTEND_ALIAS,
    ClusterSpec,
    mgmt_name,
    query_name,
    query_replica_name,
    redis_name,
)
from clipper_admin.kubernetes.objects import (
    ADMIN_TOKEN_KEY,
    REDIS_PASSWORD_KEY,
    RPC_SECRET_KEY,
    deployment_object,
    component_labels,
    pod_object,
    secret_env,
    service_object,
)
from clipper_admin.kubernetes.pod_spec import Json

REDIS_IMAGE = "redis:7.2-alpine"


def redis(c: ClusterSpec, redis_port: int, image: str = REDIS_IMAGE) -> list[Json]:
    """Redis Deployment and Service (used only when no ``redis_ip`` is given).

    Redis requires the Secret's password (``$(REDIS_PASSWORD)`` is expanded
    by the kubelet); ``REDISCLI_AUTH`` lets the readiness probe's
    ``redis-cli`` authenticate.
    """
    labels = component_labels(c, "redis")
    volume, tmp_mount = ps.tmp_volume()
    container = {
        "name": "redis",
        "image": image,
        "args": ["redis-server", "--port", str(CLIPPER_INTERNAL_REDIS_PORT), "--dir", "/data",
                 "--appendonly", "yes", "--appendfsync", "always",
                 "--requirepass", "$(REDIS_PASSWORD)"],
        "env": [secret_env(c, "REDIS_PASSWORD", REDIS_PASSWORD_KEY),
                secret_env(c, "REDISCLI_AUTH", REDIS_PASSWORD_KEY)],
        "ports": [{"name": "redis", "containerPort": CLIPPER_INTERNAL_REDIS_PORT}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("100m", "128Mi", "1", "1Gi"),
        "readinessProbe": ps.exec_probe(["redis-cli", "ping"], 2, 5),
        "livenessProbe": ps.tcp_probe(CLIPPER_INTERNAL_REDIS_PORT, 10, 10),
    }
    pod = pod_object(c, ps.REDIS_UID, [container], [{"name": "data", "emptyDir": {}}, volume])
    return [
        deployment_object(c, redis_name(c), labels, labels, pod),
        service_object(c, redis_name(c), labels, labels, redis_port, CLIPPER_INTERNAL_REDIS_PORT,
                 c.service_types["redis"]),
    ]


def query_frontend_url(c: ClusterSpec) -> str:
    """The query frontends' REST address inside the cluster: their Service (the one ``get_query_addr`` reaches)."""
    return f"http://{query_name(c)}:{CLIPPER_INTERNAL_QUERY_PORT}"


def mgmt_frontend(c: ClusterSpec, image: str, redis_ip: str, redis_port: int) -> list[Json]:
    """Management frontend Deployment and Service (1338).

    Its dashboard samples the query frontends through their Service
    (``--query_frontend_url``), resolved when the page is open, so the
    management frontend may start before them.
    """
    labels = component_labels(c, "mgmt-frontend")
    pod_labels = {**labels, CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL: ""}
    volume, tmp_mount = ps.tmp_volume()
    port = CLIPPER_INTERNAL_MANAGEMENT_PORT
    container = {
        "name": "mgmt-frontend",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--redis_ip={redis_ip}", f"--redis_port={redis_port}", "--host=0.0.0.0", f"--port={port}",
                 f"--query_frontend_url={query_frontend_url(c)}"],
        "env": [secret_env(c, "CLIPPER_ADMIN_TOKEN", ADMIN_TOKEN_KEY),
                secret_env(c, "CLIPPER_MGMT_REDIS_PASSWORD", REDIS_PASSWORD_KEY)],
        "ports": [{"name": "http", "containerPort": port}],
        "volumeMounts": [tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources("100m", "128Mi", "1", "512Mi"),
        "readinessProbe": ps.http_probe("/ready", port, 2, 5),
        "livenessProbe": ps.http_probe("/admin/ping", port, 10, 10),
    }
    pod = pod_object(c, ps.CLIPPER_UID, [container], [volume])
    return [
        deployment_object(c, mgmt_name(c), pod_labels, labels, pod),
        service_object(c, mgmt_name(c), labels, labels, port, port, c.service_types["management"]),
    ]


def query_frontend(c: ClusterSpec, index: int, image: str, redis_ip: str, redis_port: int,
                   cache_size: int, thread_pool_size: int, timeout_request: int,
                   timeout_content: int, workers: int = 1) -> list[Json]:
    """Query frontend ``index``: its Deployment and its RPC Service (7000).

    Each frontend has its own RPC Service because model replicas connect to
    exactly one frontend (``CLIPPER_IP``). Prometheus scrapes the frontend's
    own Prometheus endpoint, so no exporter sidecar is needed. With
    ``workers`` > 1 the pod runs that many worker processes (``--workers``,
    a CPU limit of one core each, at least 2); worker i takes its replicas
    on RPC port 7000 + i, which the Service carries too.
    """
    labels = component_labels(c, "query-frontend")
    pod_labels = {**labels, CLIPPER_QUERY_FRONTEND_ID_LABEL: str(index), CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL: ""}
    if workers > 1:  # absent: one worker (as every frontend before workers)
        pod_labels[CLIPPER_QUERY_FRONTEND_WORKERS_LABEL] = str(workers)
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
            *([f"--workers={workers}"] if workers > 1 else []),
        ],
        # Optional: a Secret made before the RPC secret existed (or by hand, k8s/README.md) may lack it.
        "env": [secret_env(c, "CLIPPER_QF_REDIS_PASSWORD", REDIS_PASSWORD_KEY),
                secret_env(c, "CLIPPER_QF_RPC_SECRET", RPC_SECRET_KEY, optional=True)],
        "ports": [{"name": "rpc", "containerPort": CLIPPER_INTERNAL_RPC_PORT},
                  {"name": "http", "containerPort": query_port},
                  *({"name": f"rpc-{i}", "containerPort": CLIPPER_INTERNAL_RPC_PORT + i} for i in range(1, workers))],
        "volumeMounts": [tmp_mount],
        "securityContext": ps.container_security_context(),
        "resources": ps.resources(f"{250 * workers}m", f"{256 * workers}Mi", str(max(2, workers)), f"{2 * workers}Gi"),
        "readinessProbe": ps.http_probe("/ready", query_port, 2, 5),
        # /healthz, not /ready: a frontend that lost Redis keeps serving from
        # its snapshot and must not be restarted for it.
        "livenessProbe": ps.http_probe("/healthz", query_port, 10, 10),
    }
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": str(query_port),
                   "prometheus.io/path": "/metrics/prometheus"}
    pod = pod_object(c, ps.CLIPPER_UID, [container], [volume])
    name = query_replica_name(c, index)
    rpc_service = service_object(c, name, pod_labels, selector, CLIPPER_INTERNAL_RPC_PORT, CLIPPER_INTERNAL_RPC_PORT,
                                 c.service_types["query-rpc"])
    for i in range(1, workers):
        port = CLIPPER_INTERNAL_RPC_PORT + i
        rpc_service["spec"]["ports"].append({"name": str(port), "port": port, "targetPort": port, "protocol": "TCP"})
    return [deployment_object(c, name, pod_labels, selector, pod, annotations=annotations), rpc_service]


def query_services(c: ClusterSpec) -> list[Json]:
    """The Service in front of every query frontend (1337).

    ``query-frontend-at-<cluster>`` as the original; the default cluster also
    gets ``query-frontend``, the name users look up with ``kubectl describe
    service query-frontend`` (the name older Clipper releases used). Only the
    default cluster takes it, so two clusters in one namespace never collide.
    """
    labels = component_labels(c, "query-frontend")
    port = CLIPPER_INTERNAL_QUERY_PORT
    services = [service_object(c, query_name(c), labels, labels, port, port, c.service_types["query"])]
    if c.cluster_name == DEFAULT_CLUSTER_NAME:
        services.append(service_object(c, QUERY_FRONTEND_ALIAS, labels, labels, port, port, c.service_types["query"]))
    return services
