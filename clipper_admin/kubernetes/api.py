"""A thin layer over the official ``kubernetes`` client for the calls Clipper makes.

Objects go in as the dicts ``manifests`` builds; ``create`` routes each to
the right API by its ``kind``. The client is configured once, lazily: from
the ``Configuration`` given, else the user's kubeconfig, else the in-cluster
service account.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from typing import Any, Callable, cast

from kubernetes import client
from kubernetes import config as _config
from kubernetes.client.exceptions import ApiException

from clipper_admin.exceptions import ClipperException
from clipper_admin.kubernetes.pod_spec import Json

logger = logging.getLogger("clipper.kubernetes")

# The client's configuration loaders carry no annotations.
config: Any = cast(Any, _config)

# Merge patch, not the client's default pick (JSON patch), which a real API
# server rejects for an object body.
_MERGE_PATCH = "application/merge-patch+json"
# This client sends create bodies without a Content-Type; say what they are.
_JSON = {"Content-Type": "application/json"}


def load_configuration() -> client.Configuration:
    """The user's kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), else in-cluster."""
    configuration = client.Configuration()
    try:
        # $KUBECONFIG read now, not when the client was imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)
    except (config.ConfigException, OSError) as kubeconfig_error:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as e:
            raise ClipperException(
                f"No Kubernetes configuration found: kubeconfig: {kubeconfig_error}; in-cluster: {e}") from e
    return configuration


class KubeApi:
    """The Kubernetes calls of one namespace."""

    def __init__(self, namespace: str, configuration: client.Configuration | None = None) -> None:
        self.namespace = namespace
        self._api_client: Any = client.ApiClient(configuration or load_configuration())
        # Typed Any: the client's annotations ask for its model classes, but it
        # sends dicts as they are, and dicts are what we build and validate.
        self.core: Any = client.CoreV1Api(self._api_client)
        self.apps: Any = client.AppsV1Api(self._api_client)
        self.rbac: Any = client.RbacAuthorizationV1Api(self._api_client)

    def close(self) -> None:
        self._api_client.close()

    # --- create -----------------------------------------------------------

    def create(self, obj: Json) -> bool:
        """Create ``obj``; False if it already exists (as the original, not an error)."""
        kind, ns = obj["kind"], self.namespace
        creators: dict[str, Callable[[], Any]] = {
            "Namespace": lambda: self.core.create_namespace(obj, _headers=_JSON),
            "ServiceAccount": lambda: self.core.create_namespaced_service_account(ns, obj, _headers=_JSON),
            "Service": lambda: self.core.create_namespaced_service(ns, obj, _headers=_JSON),
            "ConfigMap": lambda: self.core.create_namespaced_config_map(ns, obj, _headers=_JSON),
            "Secret": lambda: self.core.create_namespaced_secret(ns, obj, _headers=_JSON),
            "PersistentVolumeClaim": lambda: self.core.create_namespaced_persistent_volume_claim(ns, obj, _headers=_JSON),
            "Deployment": lambda: self.apps.create_namespaced_deployment(ns, obj, _headers=_JSON),
            "ClusterRole": lambda: self.rbac.create_cluster_role(obj, _headers=_JSON),
            "ClusterRoleBinding": lambda: self.rbac.create_cluster_role_binding(obj, _headers=_JSON),
        }
        if kind not in creators:
            raise ClipperException(f"Cannot create a Kubernetes object of kind {kind!r}")
        try:
            creators[kind]()
        except ApiException as e:
            if e.status == 409:
                logger.info("%s %s already exists", kind, obj["metadata"]["name"])
                return False
            raise
        logger.info("Created %s %s", kind, obj["metadata"]["name"])
        return True

    # --- reads ------------------------------------------------------------

    def namespace_exists(self) -> bool:
        try:
            self.core.read_namespace(self.namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    def read_service(self, name: str) -> Any:
        return self.core.read_namespaced_service(name, self.namespace)

    def read_secret_value(self, name: str, key: str) -> str | None:
        """``key`` of Secret ``name``, decoded; None if the Secret or key is absent."""
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        if secret.data and key in secret.data:
            return base64.b64decode(secret.data[key]).decode("utf-8")
        if secret.string_data and key in secret.string_data:
            return str(secret.string_data[key])
        return None

    def node_addresses(self, use_internal_ip: bool) -> list[str]:
        """External addresses of the nodes; internal ones only if asked and no external exists."""
        external, internal = [], []
        for node in self.core.list_node().items:
            for address in (node.status.addresses if node.status else None) or []:
                if address.type in ("ExternalIP", "ExternalDNS"):
                    external.append(address.address)
                elif address.type == "InternalIP":
                    internal.append(address.address)
        return external or (internal if use_internal_ip else [])

    def deployment_images(self, name: str) -> list[str] | None:
        """The container images of Deployment ``name``; None if there is no such Deployment."""
        try:
            deployment = self.apps.read_namespaced_deployment(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return [str(c.image) for c in deployment.spec.template.spec.containers]

    def deployment_pod_labels(self, selector: str) -> list[dict[str, str]]:
        """The pod-template labels of each selected Deployment."""
        found = self.apps.list_namespaced_deployment(self.namespace, label_selector=selector).items
        return [dict(d.spec.template.metadata.labels or {}) for d in found]

    def get_scale(self, name: str) -> int:
        return int(self.apps.read_namespaced_deployment_scale(name, self.namespace).spec.replicas or 0)

    def set_scale(self, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(
            name, self.namespace, {"spec": {"replicas": replicas}}, _content_type=_MERGE_PATCH)

    def pod_logs(self, selector: str) -> list[tuple[str, int, str]]:
        """``(pod, container index, log text)`` for every container of the selected pods."""
        logs = []
        for pod in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items:
            for i, container in enumerate(pod.spec.containers):
                text = self.core.read_namespaced_pod_log(pod.metadata.name, self.namespace, container=container.name)
                logs.append((pod.metadata.name, i, text))
        return logs

    def wait_available(self, name: str, replicas: int, timeout_s: float, poll_s: float = 1.0) -> bool:
        """Wait until Deployment ``name`` has exactly ``replicas`` available; False on timeout."""
        deadline = time.monotonic() + timeout_s
        next_log = time.monotonic() + 10.0
        while True:
            status = self.apps.read_namespaced_deployment_status(name, self.namespace).status
            available = (status.available_replicas or 0) if status else 0
            total = (status.replicas or 0) if status else 0
            # total == replicas too: after a scale-down, old pods still count until gone.
            if available == replicas and total == replicas:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if now >= next_log:
                logger.info("Waiting for Deployment %s: %d of %d replicas available", name, available, replicas)
                next_log = now + 10.0
            time.sleep(min(poll_s, deadline - now))

    # --- deletes (by label selector, as the original) ---------------------

    def delete_workloads(self, selector: str) -> None:
        """Deployments, ReplicaSets and pods matching ``selector``."""
        ns = self.namespace
        self.apps.delete_collection_namespaced_deployment(ns, label_selector=selector)
        self.apps.delete_collection_namespaced_replica_set(ns, label_selector=selector)
        self.core.delete_collection_namespaced_pod(ns, label_selector=selector)

    def delete_cluster(self, selector: str) -> None:
        """Everything ``start_clipper`` and ``deploy_model`` created; errors are only logged."""
        ns = self.namespace
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("services", lambda: [self.core.delete_namespaced_service(s.metadata.name, ns) for s in
                                  self.core.list_namespaced_service(ns, label_selector=selector).items]),
            ("deployments", lambda: self.apps.delete_collection_namespaced_deployment(ns, label_selector=selector)),
            ("replica sets", lambda: self.apps.delete_collection_namespaced_replica_set(ns, label_selector=selector)),
            ("replication controllers", lambda: self.core.delete_collection_namespaced_replication_controller(
                ns, label_selector=selector)),
            ("pods", lambda: self.core.delete_collection_namespaced_pod(ns, label_selector=selector)),
            ("config maps", lambda: self.core.delete_collection_namespaced_config_map(ns, label_selector=selector)),
            ("secrets", lambda: self.core.delete_collection_namespaced_secret(ns, label_selector=selector)),
            ("service accounts", lambda: self.core.delete_collection_namespaced_service_account(
                ns, label_selector=selector)),
            ("cluster role bindings", lambda: self.rbac.delete_collection_cluster_role_binding(
                label_selector=selector)),
            ("cluster roles", lambda: self.rbac.delete_collection_cluster_role(label_selector=selector)),
        ]
        for what, step in steps:
            try:
                step()
            except ApiException as e:
                logger.warning("Could not delete %s with %s: %s %s", what, selector, e.status, e.reason)
