"""The Deployments of a model version's replicas, one per query frontend (and per worker of it).

Each selects on the frontend index too (and, when frontends run several
workers, on the worker index), so the Deployments of one model version
never fight over each other's pods.
"""

from __future__ import annotations

from clipper_admin.container_manager import (
    CLIPPER_INTERNAL_METRIC_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKER_LABEL,
    create_model_container_label,
)
from clipper_admin.kubernetes import pod_spec as ps
from clipper_admin.kubernetes.cluster_spec import ClusterSpec, model_deployment_name, query_replica_name
from clipper_admin.kubernetes.objects import RPC_SECRET_KEY, component_labels, deployment_object, pod_object, secret_env
from clipper_admin.kubernetes.pod_spec import Json

DEFAULT_MODEL_RESOURCES: Json = ps.resources("250m", "256Mi", "2", "2Gi")
#: Requests and limits that fit each framework image (its ``ai.clipper.framework`` label): what one
#: replica of a small model takes at rest, and room for batches. PySpark runs a JVM (the Spark driver,
#: heap ``CLIPPER_SPARK_DRIVER_MEMORY``) beside the Python process.
FRAMEWORK_MODEL_RESOURCES: dict[str, Json] = {
    "pytorch": ps.resources("250m", "512Mi", "2", "2Gi"),
    "onnx": ps.resources("250m", "256Mi", "2", "1Gi"),
    "tensorflow": ps.resources("500m", "1Gi", "2", "3Gi"),
    "keras": ps.resources("500m", "1Gi", "2", "3Gi"),
    "mxnet": ps.resources("250m", "512Mi", "2", "2Gi"),
    "pyspark": ps.resources("1", "2Gi", "2", "4Gi"),
}


def model_resources_for(framework: str | None) -> Json:
    """The resources of a replica of an image of ``framework`` (None, or not a framework image: the closures')."""
    return FRAMEWORK_MODEL_RESOURCES.get(framework or "", DEFAULT_MODEL_RESOURCES)


def model_deployment(c: ClusterSpec, name: str, version: str, input_type: str, image: str,
                     num_replicas: int, frontend_index: int, resources: Json | None = None,
                     worker: int | None = None) -> Json:
    """The replicas of ``name:version`` that serve query frontend ``frontend_index``.

    ``worker``: the frontend's worker they serve (RPC port 7000 + worker),
    None for a frontend of one process (no worker label, as before workers).

    The root filesystem stays writable: user models (and original Clipper
    images) write where they like, e.g. the readiness file.
    """
    model_label = create_model_container_label(name, version)
    labels = component_labels(c, "model", **{CLIPPER_MODEL_CONTAINER_LABEL: model_label})
    selector = {**labels, CLIPPER_QUERY_FRONTEND_ID_LABEL: str(frontend_index)}
    if worker is not None:
        selector[CLIPPER_QUERY_FRONTEND_WORKER_LABEL] = str(worker)
    env = [
        {"name": "CLIPPER_MODEL_NAME", "value": name},
        {"name": "CLIPPER_MODEL_VERSION", "value": str(version)},
        {"name": "CLIPPER_IP", "value": query_replica_name(c, frontend_index)},
        {"name": "CLIPPER_PORT", "value": str(CLIPPER_INTERNAL_RPC_PORT + (worker or 0))},
        {"name": "CLIPPER_INPUT_TYPE", "value": input_type},
        secret_env(c, "CLIPPER_RPC_SECRET", RPC_SECRET_KEY, optional=True),
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
    pod = pod_object(c, ps.CLIPPER_UID, [container], [])
    deployment = model_deployment_name(c, name, version, frontend_index, worker or 0)
    return deployment_object(c, deployment, selector, selector, pod,
                       replicas=num_replicas, annotations=annotations)
