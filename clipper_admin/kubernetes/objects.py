"""Building blocks of the cluster's Kubernetes objects: labels, Deployments, Services, pods, Secrets.

Every object carries ``ai.clipper.container.label=<cluster>`` and
``ai.clipper.name=<component>``, under ``metadata.labels`` (the original
wrote Deployments' labels under ``metadata.label``). Secrets reach pods
through ``secretKeyRef`` only, so no secret is in a pod spec.
"""

from __future__ import annotations

import secrets

from clipper_admin.container_manager import CLIPPER_DOCKER_LABEL, CLIPPER_NAME_LABEL
from clipper_admin.kubernetes import pod_spec as ps
from clipper_admin.kubernetes.cluster_spec import ClusterSpec, secret_name
from clipper_admin.kubernetes.pod_spec import Json

#: Keys of the cluster Secret.
ADMIN_TOKEN_KEY = "admin-token"
REDIS_PASSWORD_KEY = "redis-password"
#: The RPC registration secret replicas prove to the query frontends ("" or absent: off).
RPC_SECRET_KEY = "rpc-secret"


def component_labels(c: ClusterSpec, component: str, **extra: str) -> dict[str, str]:
    return {CLIPPER_DOCKER_LABEL: c.cluster_name, CLIPPER_NAME_LABEL: component, **extra}


def object_meta(c: ClusterSpec, name: str, labels: dict[str, str]) -> Json:
    return {"name": name, "namespace": c.namespace, "labels": dict(labels)}


def deployment_object(c: ClusterSpec, name: str, labels: dict[str, str], selector: dict[str, str],
                pod: Json, replicas: int = 1, annotations: dict[str, str] | None = None) -> Json:
    template_meta: Json = {"labels": dict(labels)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(c, name, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def service_object(c: ClusterSpec, name: str, labels: dict[str, str], selector: dict[str, str],
             port: int, target_port: int, service_type: str) -> Json:
    # Port names are the port number as text, as the original: connect()
    # finds node ports by these names.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(c, name, labels),
        "spec": {
            "type": service_type,
            "selector": dict(selector),
            "ports": [{"name": str(target_port), "port": port, "targetPort": target_port, "protocol": "TCP"}],
        },
    }


def pod_object(c: ClusterSpec, uid: int, containers: list[Json], volumes: list[Json],
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


def secret_env(c: ClusterSpec, name: str, key: str, optional: bool = False) -> Json:
    """An environment variable from the cluster's Secret (``optional``: unset when the key is absent)."""
    ref: Json = {"name": secret_name(c), "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def new_secret_value() -> str:
    """A fresh random token or password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def cluster_secret(c: ClusterSpec, admin_token: str, redis_password: str, rpc_secret: str = "") -> Json:
    """The Secret with the admin token, the Redis password and the RPC secret ("" means none)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(c, secret_name(c), component_labels(c, "secrets")),
        "type": "Opaque",
        "stringData": {ADMIN_TOKEN_KEY: admin_token, REDIS_PASSWORD_KEY: redis_password, RPC_SECRET_KEY: rpc_secret},
    }


def namespace(name: str) -> Json:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
