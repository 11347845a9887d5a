"""``KubernetesContainerManager``: the cluster as Deployments and Services in a namespace.

The constructor is complete (arguments, defaults, attributes and the
``service_types`` checks of the original); the methods that talk to the
Kubernetes API are not written yet and raise a ClipperException pointing at
LocalContainerManager. Nothing here loads a kube config at construction.
"""

from __future__ import annotations

from typing import Any

from clipper_admin._not_implemented import not_implemented
from clipper_admin.container_manager import CLIPPER_INTERNAL_REDIS_PORT, ContainerManager
from clipper_admin.exceptions import ClipperException

_NAME = "KubernetesContainerManager"

#: The services whose type can be chosen, and the types Kubernetes knows.
SERVICE_TYPE_KEYS = frozenset({"redis", "management", "query", "query-rpc", "metric"})
SERVICE_TYPE_VALUES = frozenset({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})
DEFAULT_SERVICE_TYPES = {key: "NodePort" for key in sorted(SERVICE_TYPE_KEYS)}


def validate_service_types(service_types: Any) -> dict[str, str]:
    """Check a ``service_types`` argument; return a copy.

    Raises
    ------
    ClipperException
        With the original's messages for a non-dict, unknown keys, unknown
        values, or an ``ExternalName`` service.
    """
    if not isinstance(service_types, dict):
        raise ClipperException(f"service_types must be 'dict' type: {service_types}")
    keys = set(service_types)
    if keys != SERVICE_TYPE_KEYS:
        unknown = sorted(keys - SERVICE_TYPE_KEYS)
        if unknown:
            raise ClipperException(f"service_types has unknown keys: {unknown}")
        raise ClipperException(
            f"service_types is missing keys: {sorted(SERVICE_TYPE_KEYS - keys)} "
            f"(it needs exactly {sorted(SERVICE_TYPE_KEYS)})"
        )
    values = set(service_types.values())
    unknown_values = sorted(v for v in values - SERVICE_TYPE_VALUES if isinstance(v, str)) + [
        v for v in values if not isinstance(v, str)
    ]
    if unknown_values:
        raise ClipperException(f"service_types has unknown values: {unknown_values}")
    if "ExternalName" in values:
        raise ClipperException("Clipper does not support 'ExternalName' service")
    return dict(service_types)


class KubernetesContainerManager(ContainerManager):
    """Runs Redis, the frontends, Prometheus and model replicas on Kubernetes.

    Parameters
    ----------
    cluster_name : str, optional
        Name of the cluster; part of every object's name and label.
    kubernetes_proxy_addr : str, optional
        Address of a ``kubectl proxy`` to reach the services through.
    redis_ip : str, optional
        An external Redis to use; None deploys one.
    redis_port : int, optional
        Port of Redis.
    useInternalIP : bool, optional
        Use the nodes' internal IPs when no external address exists (minikube).
    namespace : str, optional
        Namespace of every object.
    service_types : dict, optional
        Service type for each of "redis", "management", "query", "query-rpc"
        and "metric": "ClusterIP", "NodePort" (default) or "LoadBalancer".
    create_namespace_if_not_exists : bool, optional
        Create ``namespace`` when it does not exist.
    """

    def __init__(
        self,
        cluster_name: str = "default-cluster",
        kubernetes_proxy_addr: str | None = None,
        redis_ip: str | None = None,
        redis_port: int = CLIPPER_INTERNAL_REDIS_PORT,
        useInternalIP: bool = False,
        namespace: str = "default",
        service_types: dict[str, str] | None = None,
        create_namespace_if_not_exists: bool = False,
    ) -> None:
        self.cluster_name = cluster_name
        self.k8s_namespace = namespace
        # The original inverted this test (a non-default namespace gave the
        # bare name), so equal cluster names in two namespaces collided.
        self.cluster_identifier = cluster_name if namespace == "default" else f"{namespace}-{cluster_name}"
        self.kubernetes_proxy_addr = kubernetes_proxy_addr
        self.redis_ip = redis_ip
        self.redis_port = redis_port
        self.useInternalIP = useInternalIP
        self.create_namespace_if_not_exists = create_namespace_if_not_exists
        self.service_types = (
            dict(DEFAULT_SERVICE_TYPES) if service_types is None else validate_service_types(service_types)
        )

    def start_clipper(
        self,
        query_frontend_image: str,
        mgmt_frontend_image: str,
        frontend_exporter_image: str,
        cache_size: int,
        qf_http_thread_pool_size: int,
        qf_http_timeout_request: int,
        qf_http_timeout_content: int,
        num_frontend_replicas: int = 1,
    ) -> None:
        raise not_implemented(_NAME, "start_clipper")

    def connect(self) -> None:
        raise not_implemented(_NAME, "connect")

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        raise not_implemented(_NAME, "deploy_model")

    def get_num_replicas(self, name: str, version: str) -> int:
        raise not_implemented(_NAME, "get_num_replicas")

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        raise not_implemented(_NAME, "set_num_replicas")

    def get_logs(self, logging_dir: str) -> list[str]:
        raise not_implemented(_NAME, "get_logs")

    def stop_models(self, models: dict[str, list[str]]) -> None:
        raise not_implemented(_NAME, "stop_models")

    def stop_all_model_containers(self) -> None:
        raise not_implemented(_NAME, "stop_all_model_containers")

    def stop_all(self, graceful: bool = True) -> None:
        raise not_implemented(_NAME, "stop_all")

    def get_admin_addr(self) -> str:
        raise not_implemented(_NAME, "get_admin_addr")

    def get_query_addr(self) -> str:
        raise not_implemented(_NAME, "get_query_addr")

    def get_metric_addr(self) -> str:
        raise not_implemented(_NAME, "get_metric_addr")
