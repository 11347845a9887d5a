"""Pieces every Clipper pod shares: security contexts, probes, resources, volumes.

Plain dicts in the Kubernetes API's camelCase, so the manifests built from
them can be validated against the official schemas and sent as-is.
"""

from __future__ import annotations

from typing import Any

#: uid/gid of the ``clipper`` user in our images (dockerfiles/py-rpc.Dockerfile).
CLIPPER_UID = 1000
#: uid of ``redis`` in the official redis:alpine image.
REDIS_UID = 999
#: uid of ``nobody``, which the official Prometheus image runs as.
PROMETHEUS_UID = 65534

Json = dict[str, Any]


def pod_security_context(uid: int) -> Json:
    """Pod-level context: a numeric non-root user, so the kubelet can verify it."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(read_only_root: bool = True) -> Json:
    """Container-level context: no privilege escalation, no capabilities."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
    }


def resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> Json:
    """A ``resources`` block with requests and limits."""
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def http_probe(path: str, port: int, initial_delay_s: int, period_s: int, failure_threshold: int = 3) -> Json:
    """An HTTP GET probe."""
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": failure_threshold,
    }


def tcp_probe(port: int, initial_delay_s: int, period_s: int, failure_threshold: int = 3) -> Json:
    """A TCP connect probe."""
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": failure_threshold,
    }


def exec_probe(command: list[str], initial_delay_s: int, period_s: int) -> Json:
    """A probe that runs ``command`` in the container."""
    return {
        "exec": {"command": command},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def tmp_volume() -> tuple[Json, Json]:
    """An emptyDir for /tmp: the volume and its mount (the root filesystem is read-only)."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}, {"name": "tmp", "mountPath": "/tmp"}


def image_pull_secrets(names: list[str] | None) -> list[Json]:
    """``imagePullSecrets`` entries for the given secret names."""
    return [{"name": n} for n in names or []]
