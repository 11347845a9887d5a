"""``KubernetesContainerManager``: the cluster as Deployments and Services in a namespace.

The objects themselves are built in ``manifests`` (plain dicts); the API
calls live in ``api``. This module decides what to create, wait for and
delete, with the original's names, labels and error messages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipper_admin._base import ClusterAdapter
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_NAME_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKER_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKERS_LABEL,
    ContainerManager,
    create_model_container_label,
)
from clipper_admin.exceptions import ClipperException
from clipper_admin.images import FRAMEWORK_LABEL
from clipper_admin.kubernetes import manifests as m

if TYPE_CHECKING:
    from clipper_admin.kubernetes.api import KubeApi

logger = logging.getLogger("clipper.kubernetes")


def image_framework(image: str) -> str | None:
    """The ``ai.clipper.framework`` label of a model image present in the local engine, else None.

    Model images are built here before they are deployed, so their labels
    (inherited from the framework base image) are at hand; nothing is pulled.
    """
    from clipper_admin.deployers.deployer_utils import image_labels

    return (image_labels(image, pull=False) or {}).get(FRAMEWORK_LABEL) or None


#: The services whose type can be chosen, and the types Kubernetes knows.
SERVICE_TYPE_KEYS = frozenset({"redis", "management", "query", "query-rpc", "metric"})
SERVICE_TYPE_VALUES = frozenset({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})
# NodePort as the original, except Redis: only the frontends (in-cluster)
# need it, and a node port would publish it on every node.
DEFAULT_SERVICE_TYPES = {key: "ClusterIP" if key == "redis" else "NodePort" for key in sorted(SERVICE_TYPE_KEYS)}


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
        Redis defaults to "ClusterIP" (the original: NodePort), so it is not
        reachable from outside the Kubernetes cluster unless asked for.
    create_namespace_if_not_exists : bool, optional
        Create ``namespace`` when it does not exist.
    image_pull_secrets : list of str, optional
        Names of ``docker-registry`` Secrets (in ``namespace``) every pod
        pulls its image with, e.g. a private registry of model images.
    kube_configuration : kubernetes.client.Configuration, optional
        Client configuration to use; None loads the kubeconfig
        (``$KUBECONFIG`` or ``~/.kube/config``), else the in-cluster account,
        on first use (never at construction).
    deployment_timeout_s : float, optional
        How long to wait for a Deployment to become available (600 s, as the original).
    model_resources : dict, optional
        ``resources`` (requests/limits) of each model replica. None: what
        fits the framework of the model's image (its ``ai.clipper.framework``
        label, read from the local Docker engine; ``m.FRAMEWORK_MODEL_RESOURCES``),
        e.g. 2 GiB requested for PySpark's JVM, else 250m CPU and 256 MiB.
    admin_token : str, optional
        Token the management frontend requires on every admin call, kept in
        the cluster's Secret. None: ``start_clipper`` generates a random one
        (the admin API is never open here) and ``connect`` reads it from the
        Secret; :class:`ClipperConnection` sends it.
    redis_password : str, optional
        Password of Redis, kept in the same Secret. None: a random one for
        the Redis deployed here, none for an external ``redis_ip``.
    rpc_secret : str, optional
        The registration secret every model replica proves to the query
        frontends, kept in the same Secret and given to the frontends and to
        every replica Deployment from it (never in a manifest). None: a random
        one; "": none, which containers that cannot prove it (the
        original's images) need to register.
    query_frontend_workers : int, optional
        Worker processes in each query frontend pod (its ``--workers``;
        default 1): they share the pod's query port, worker i takes model
        replicas on RPC port 7000 + i (the frontend's RPC Service carries
        each), the pod's CPU limit is one core per worker (at least 2), and
        every model version gets one Deployment of ``num_replicas`` per
        worker of every frontend. ``connect()`` learns it from the cluster.
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
        image_pull_secrets: list[str] | None = None,
        kube_configuration: Any = None,
        deployment_timeout_s: float = 600.0,
        model_resources: dict[str, Any] | None = None,
        admin_token: str | None = None,
        redis_password: str | None = None,
        query_frontend_workers: int = 1,
        rpc_secret: str | None = None,
    ) -> None:
        if isinstance(query_frontend_workers, bool) or not isinstance(query_frontend_workers, int) \
                or query_frontend_workers < 1:
            raise ClipperException(f"query_frontend_workers must be an integer >= 1, got {query_frontend_workers!r}")
        self.query_frontend_workers = query_frontend_workers
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
        self.image_pull_secrets = list(image_pull_secrets or [])
        self.deployment_timeout_s = deployment_timeout_s
        self.model_resources = model_resources
        self.admin_token = admin_token or None
        self._redis_password = redis_password
        self._rpc_secret = rpc_secret
        self.num_frontend_replicas = 1
        self.external_node_hosts: list[str] = []
        self.clipper_management_port: int | None = None
        self.clipper_query_port: int | None = None
        self.clipper_metric_port: int | None = None
        self._lb_hosts: dict[str, str] = {}
        self._kube_configuration = kube_configuration
        self._api: KubeApi | None = None
        self.logger = ClusterAdapter(logger, {"cluster_name": self.cluster_identifier})

    # --- plumbing ---------------------------------------------------------

    @property
    def spec(self) -> m.ClusterSpec:
        return m.ClusterSpec(self.cluster_name, self.cluster_identifier, self.k8s_namespace,
                             dict(self.service_types), list(self.image_pull_secrets))

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            # Imported here: `import clipper_admin` must not load the kubernetes client.
            from clipper_admin.kubernetes.api import KubeApi

            self._api = KubeApi(self.k8s_namespace, self._kube_configuration)
        return self._api

    def close(self) -> None:
        """Release the HTTP connections to the API server."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def _ensure_namespace(self) -> None:
        from kubernetes.client.exceptions import ApiException

        if self.api.namespace_exists():
            return
        if not self.create_namespace_if_not_exists:
            raise ClipperException(
                "Error connecting to Kubernetes cluster. Namespace does not exist. You can pass in "
                "KubernetesContainerManager(create_namespace_if_not_exists=True) to create this namespace")
        try:
            self.api.create(m.namespace(self.k8s_namespace))
        except ApiException as e:
            raise ClipperException(f"Could not create Kubernetes namespace. Reason: {e.reason}") from e

    def _cluster_selector(self) -> str:
        return f"{CLIPPER_DOCKER_LABEL}={self.cluster_name}"

    # --- cluster life cycle -------------------------------------------------

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
        """Create every object of the cluster (see ``manifests.cluster_objects``), then connect.

        ``frontend_exporter_image`` is accepted and unused: our query frontend
        serves Prometheus text itself, so Prometheus scrapes it directly.
        """
        if num_frontend_replicas < 1:
            raise ClipperException(f"num_frontend_replicas must be at least 1, got {num_frontend_replicas}")
        self._ensure_namespace()
        objects = m.cluster_objects(
            self.spec, query_frontend_image=query_frontend_image, mgmt_frontend_image=mgmt_frontend_image,
            redis_ip=self.redis_ip, redis_port=self.redis_port, cache_size=cache_size,
            thread_pool_size=qf_http_thread_pool_size, timeout_request=qf_http_timeout_request,
            timeout_content=qf_http_timeout_content, num_frontend_replicas=num_frontend_replicas,
            admin_token=self.admin_token, redis_password=self._redis_password,
            query_frontend_workers=self.query_frontend_workers, rpc_secret=self._rpc_secret)
        redis_deployment = m.redis_name(self.spec)
        for obj in objects:
            created = self.api.create(obj)
            if obj["kind"] == "Secret":
                # An existing Secret (a cluster started before) is kept: its
                # token is the one the frontend will get, so learn it.
                self.admin_token = obj["stringData"][m.ADMIN_TOKEN_KEY] if created else None
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == redis_deployment:
                # The frontends need Redis up first, as in the original.
                if not self.api.wait_available(redis_deployment, 1, self.deployment_timeout_s):
                    raise ClipperException(f"Could not create a Kubernetes deployment: {redis_deployment}")
        if self.redis_ip is None:
            self.redis_ip = redis_deployment
        self.num_frontend_replicas = num_frontend_replicas
        self.connect()

    def connect(self) -> None:
        """Learn the frontends' addresses: node ports, load balancers or the kubectl proxy."""
        from kubernetes.client.exceptions import ApiException

        spec = self.spec
        try:
            self._ensure_namespace()
            # Node addresses are needed only to reach node ports: not through
            # kubectl proxy, and not for load balancers (the original listed
            # nodes whenever any service type, even Redis's, was not one).
            needs_nodes = any(self.service_types[k] != "LoadBalancer" for k in ("management", "query", "metric"))
            if needs_nodes and self.kubernetes_proxy_addr is None:
                self.external_node_hosts = self.api.node_addresses(self.useInternalIP)
                if not self.external_node_hosts:
                    raise ClipperException(
                        "Error connecting to Kubernetes cluster. No external node addresses found. You may pass in "
                        "KubernetesContainerManager(useInternalIP=True) to connect to local Kubernetes cluster")
            self.clipper_management_port = self._service_port(m.mgmt_name(spec), "management",
                                                              CLIPPER_INTERNAL_MANAGEMENT_PORT)
            self.clipper_query_port = self._service_port(m.query_name(spec), "query", CLIPPER_INTERNAL_QUERY_PORT)
            self.clipper_metric_port = self._service_port(m.metrics_name(spec), "metric", m.PROMETHEUS_PORT)
            frontends = self.api.deployment_pod_labels(f"{CLIPPER_NAME_LABEL}=query-frontend,{self._cluster_selector()}")
            self.num_frontend_replicas = len(frontends)
            if frontends:  # pods of clusters from before workers carry no workers label: one each
                self.query_frontend_workers = max(1, int(frontends[0].get(CLIPPER_QUERY_FRONTEND_WORKERS_LABEL, "1")))
            if self.admin_token is None:
                self.admin_token = self.api.read_secret_value(m.secret_name(spec), m.ADMIN_TOKEN_KEY) or None
        except ApiException as e:
            raise ClipperException(f"Could not connect to Clipper Kubernetes cluster. Reason: {e.reason}") from e
        self.logger.info("Connected to Kubernetes cluster at namespace %s", self.k8s_namespace)

    def _service_port(self, service: str, key: str, port: int) -> int:
        """Node port of ``service``'s port named ``port``; remembers a load balancer's address."""
        svc = self.api.read_service(service)
        matching = [p for p in svc.spec.ports or [] if p.name == str(port)]
        if not matching:
            raise ClipperException(f"Service {service} has no port named {port}")
        if self.service_types[key] == "LoadBalancer":
            ingress = (svc.status.load_balancer.ingress if svc.status and svc.status.load_balancer else None) or []
            if not ingress:
                raise ClipperException(f"Service {service} has no load balancer address yet")
            self._lb_hosts[key] = ingress[0].ip or ingress[0].hostname
            return int(matching[0].port)
        return int(matching[0].node_port or matching[0].port)

    def _addr(self, key: str, service: str, internal_port: int, port: int | None) -> str:
        if self.service_types[key] == "LoadBalancer" and key in self._lb_hosts:
            return f"{self._lb_hosts[key]}:{port}"
        if self.kubernetes_proxy_addr is not None:
            return (f"{self.kubernetes_proxy_addr}/api/v1/namespaces/{self.k8s_namespace}"
                    f"/services/{service}:{internal_port}/proxy")
        if port is None or not self.external_node_hosts:
            raise ClipperException(f"{self.cluster_identifier} is not connected; call connect() first")
        return f"{self.external_node_hosts[0]}:{port}"

    def get_admin_addr(self) -> str:
        return self._addr("management", m.mgmt_name(self.spec), CLIPPER_INTERNAL_MANAGEMENT_PORT,
                          self.clipper_management_port)

    def get_query_addr(self) -> str:
        return self._addr("query", m.query_name(self.spec), CLIPPER_INTERNAL_QUERY_PORT, self.clipper_query_port)

    def get_metric_addr(self) -> str:
        # 9090 through the proxy too (the original said 1390, where nothing listens).
        return self._addr("metric", m.metrics_name(self.spec), m.PROMETHEUS_PORT, self.clipper_metric_port)

    # --- models -----------------------------------------------------------

    @property
    def replica_sets(self) -> int:
        """Replica sets per model version (read by the serving wait): one per worker of every frontend."""
        return self.num_frontend_replicas * self.query_frontend_workers

    def _slots(self) -> list[tuple[int, int]]:
        return m.replica_slots(self.num_frontend_replicas, self.query_frontend_workers)

    def _worker_label(self, worker: int) -> int | None:
        """The worker label a replica Deployment carries: none with one worker per frontend (as before workers)."""
        return None if self.query_frontend_workers == 1 else worker

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        """One Deployment of ``num_replicas`` per query frontend (per worker of each); waits until all are available."""
        spec = self.spec
        resources = self.model_resources or m.model_resources_for(image_framework(image))
        for i, w in self._slots():
            deployment = m.model_deployment(spec, name, str(version), input_type, image, num_replicas, i, resources,
                                            worker=self._worker_label(w))
            self.api.create(deployment)
            deployment_name = deployment["metadata"]["name"]
            self.logger.info("Waiting for %d replica(s) of %s:%s (%s)", num_replicas, name, version, deployment_name)
            if not self.api.wait_available(deployment_name, num_replicas, self.deployment_timeout_s):
                raise ClipperException(
                    f"Could not create a Kubernetes deployment. Model: {name}-{version} Image: {image}")

    def get_num_replicas(self, name: str, version: str) -> int:
        return self.api.get_scale(m.model_deployment_name(self.spec, name, str(version), 0))

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        """Scale every per-frontend (per-worker) Deployment of ``name:version`` and wait for it."""
        names = [m.model_deployment_name(self.spec, name, str(version), i, w) for i, w in self._slots()]
        for deployment_name in names:
            self.api.set_scale(deployment_name, num_replicas)
        for deployment_name in names:
            if not self.api.wait_available(deployment_name, num_replicas, self.deployment_timeout_s):
                raise ClipperException(
                    f"Could not update scale of the specified Deployment. Model: {name}-{version} Image: {image}")

    def get_logs(self, logging_dir: str) -> list[str]:
        """Each container's log of every pod of this cluster, as ``<pod>_<i>.log``.

        The original selected every Clipper pod of the namespace (any
        cluster); this selects this cluster's.
        """
        directory = Path(logging_dir).expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        files = []
        for pod, index, text in self.api.pod_logs(self._cluster_selector()):
            path = directory / f"{pod}_{index}.log"
            path.write_text(text or "", encoding="utf-8")
            files.append(str(path))
        return files

    def discard_model(self, name: str, version: str, image: str) -> None:
        """Undo a deploy of ``image`` as ``name:version``: delete its Deployments that run ``image``.

        A Deployment of that version running another image (the one that was
        registered) is left alone.
        """
        label = create_model_container_label(name, str(version))
        for i, w in self._slots():
            deployment_name = m.model_deployment_name(self.spec, name, str(version), i, w)
            if self.api.deployment_images(deployment_name) == [image]:
                self.logger.info("Deleting %s, started from %s by a deploy that failed", deployment_name, image)
                worker = "" if self._worker_label(w) is None else f"{CLIPPER_QUERY_FRONTEND_WORKER_LABEL}={w}, "
                self.api.delete_workloads(f"{CLIPPER_MODEL_CONTAINER_LABEL}={label}, "
                                          f"{CLIPPER_QUERY_FRONTEND_ID_LABEL}={i}, {worker}{self._cluster_selector()}")

    def stop_models(self, models: dict[str, list[str]]) -> None:
        for name, versions in models.items():
            for version in versions:
                label = create_model_container_label(name, str(version))
                self.api.delete_workloads(
                    f"{CLIPPER_MODEL_CONTAINER_LABEL}={label}, {self._cluster_selector()}")

    def stop_all_model_containers(self) -> None:
        self.api.delete_workloads(f"{CLIPPER_MODEL_CONTAINER_LABEL}, {self._cluster_selector()}")

    def stop_all(self, graceful: bool = True) -> None:
        """Delete every object labelled with this cluster (``graceful`` is ignored, as the original)."""
        self.api.delete_cluster(self._cluster_selector())
