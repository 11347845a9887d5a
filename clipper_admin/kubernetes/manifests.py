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
This module assembles a whole cluster; the parts are in
:mod:`.cluster_spec` (the spec and object names), :mod:`.objects` (labels,
Deployments, Services, Secrets), :mod:`.core_manifests` (Redis and the
frontends), :mod:`.prometheus_manifests` and :mod:`.model_manifests`, all
re-exported here.
"""

from __future__ import annotations

from clipper_admin.kubernetes.cluster_spec import (
    DEFAULT_CLUSTER_NAME,
    QUERY_FRONTEND_ALIAS,
    ClusterSpec,
    metrics_name,
    mgmt_name,
    model_deployment_name,
    prometheus_config_name,
    prometheus_rbac_name,
    query_name,
    query_replica_name,
    redis_name,
    replica_slots,
    secret_name,
)
from clipper_admin.kubernetes.core_manifests import REDIS_IMAGE, mgmt_frontend, query_frontend, query_services, redis
from clipper_admin.kubernetes.model_manifests import (
    DEFAULT_MODEL_RESOURCES,
    FRAMEWORK_MODEL_RESOURCES,
    model_deployment,
    model_resources_for,
)
from clipper_admin.kubernetes.objects import (
    ADMIN_TOKEN_KEY,
    REDIS_PASSWORD_KEY,
    RPC_SECRET_KEY,
    cluster_secret,
    namespace,
    new_secret_value,
)
from clipper_admin.kubernetes.pod_spec import Json
from clipper_admin.kubernetes.prometheus_manifests import (
    PROMETHEUS_IMAGE,
    PROMETHEUS_PORT,
    prometheus,
    prometheus_config,
    prometheus_rbac,
)

__all__ = [
    "ADMIN_TOKEN_KEY", "DEFAULT_CLUSTER_NAME", "DEFAULT_MODEL_RESOURCES", "FRAMEWORK_MODEL_RESOURCES", "PROMETHEUS_IMAGE", "PROMETHEUS_PORT",
    "QUERY_FRONTEND_ALIAS", "REDIS_IMAGE", "REDIS_PASSWORD_KEY", "RPC_SECRET_KEY", "ClusterSpec", "Json", "cluster_objects",
    "cluster_secret", "metrics_name", "mgmt_frontend", "mgmt_name", "model_deployment", "model_deployment_name",
    "model_resources_for", "replica_slots",
    "namespace", "new_secret_value", "prometheus", "prometheus_config", "prometheus_config_name", "prometheus_rbac",
    "prometheus_rbac_name", "query_frontend", "query_name", "query_replica_name", "query_services", "redis",
    "redis_name", "secret_name",
]


def cluster_objects(c: ClusterSpec, *, query_frontend_image: str, mgmt_frontend_image: str, redis_ip: str | None,
                    redis_port: int, cache_size: int, thread_pool_size: int, timeout_request: int,
                    timeout_content: int, num_frontend_replicas: int, admin_token: str | None = None,
                    redis_password: str | None = None, query_frontend_workers: int = 1,
                    rpc_secret: str | None = None) -> list[Json]:
    """Every object ``start_clipper`` creates, in creation order (namespace excluded).

    The Secret comes first. ``admin_token`` None: a fresh random one (the
    admin API is never open on Kubernetes). ``redis_password`` None: a fresh
    random one for the Redis deployed here, none for an external Redis.
    ``rpc_secret`` None: a fresh random one, which the query frontends
    require of every replica ("": none, so containers that cannot prove it,
    such as the original's, register).
    """
    token = new_secret_value() if admin_token is None else admin_token
    if redis_password is None:
        redis_password = new_secret_value() if redis_ip is None else ""
    objects = [cluster_secret(c, token, redis_password, new_secret_value() if rpc_secret is None else rpc_secret)]
    objects += prometheus_rbac(c)
    if redis_ip is None:
        objects += redis(c, redis_port)
        redis_ip = redis_name(c)
    objects += mgmt_frontend(c, mgmt_frontend_image, redis_ip, redis_port)
    for i in range(num_frontend_replicas):
        objects += query_frontend(c, i, query_frontend_image, redis_ip, redis_port, cache_size,
                                  thread_pool_size, timeout_request, timeout_content, query_frontend_workers)
    objects += query_services(c)
    objects += prometheus(c)
    return objects
