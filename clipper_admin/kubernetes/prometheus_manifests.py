"""Prometheus on Kubernetes: its RBAC, configuration, Deployment and Service.

Prometheus discovers the cluster's pods through the API (hence a
ServiceAccount of its own with read access to pods) and scrapes those
annotated ``prometheus.io/scrape``: every query frontend and model replica.
It evaluates the monitoring alerts (``clipper_admin/monitoring/alert_rules.yaml``,
or the file ``$CLIPPER_PROMETHEUS_RULES`` names when the objects are built):
the ConfigMap holds them under the key ``alert_rules.yaml`` beside
``prometheus.yml``, both mounted in ``/etc/prometheus``, and ``rule_files``
names it. ``$CLIPPER_ALERTMANAGERS`` (``host:port``, comma-separated) adds
the Alertmanagers the alerts are sent to.
"""

from __future__ import annotations

import yaml

from clipper_admin.docker import prometheus_config as shared_config
from clipper_admin.kubernetes import pod_spec as ps
from clipper_admin.kubernetes.cluster_spec import ClusterSpec, metrics_name, prometheus_config_name, prometheus_rbac_name
from clipper_admin.kubernetes.objects import deployment_object, component_labels, object_meta, pod_object, service_object
from clipper_admin.kubernetes.pod_spec import Json

PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
PROMETHEUS_PORT = 9090
#: The ConfigMap key (and file in ``/etc/prometheus``) of the alerting rules.
RULES_KEY = shared_config.RULES_FILE_NAME


def prometheus_rbac(c: ClusterSpec) -> list[Json]:
    """ServiceAccount, ClusterRole and binding that let Prometheus discover pods.

    The original bound the namespace's ``default`` ServiceAccount; a
    dedicated one keeps that read access away from every other pod.
    """
    name = prometheus_rbac_name(c)
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": object_meta(c, metrics_name(c), component_labels(c, "metrics"))}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": component_labels(c, "prom-cluster-role")},
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
        "metadata": {"name": name, "labels": component_labels(c, "prom-cluster-role-binding")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": metrics_name(c), "namespace": c.namespace}],
    }
    return [account, role, binding]


def prometheus_config(c: ClusterSpec) -> str:
    """``prometheus.yml``: scrape the pods of this cluster annotated for it, load the alerting rules beside it."""
    pod_label = "__meta_kubernetes_pod_label_"
    config: dict[str, object] = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [RULES_KEY],
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
    alerting = shared_config.alerting_config()
    if alerting is not None:
        config["alerting"] = alerting
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


def prometheus(c: ClusterSpec, image: str = PROMETHEUS_IMAGE) -> list[Json]:
    """Prometheus ConfigMap (``prometheus.yml`` and the alerting rules), Deployment and Service (9090)."""
    labels = component_labels(c, "metrics")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(c, prometheus_config_name(c), labels),
        "data": {"prometheus.yml": prometheus_config(c), RULES_KEY: shared_config.rules_text()},
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
    pod = pod_object(c, ps.PROMETHEUS_UID, [container], volumes, service_account=metrics_name(c))
    return [
        config_map,
        deployment_object(c, metrics_name(c), labels, labels, pod),
        service_object(c, metrics_name(c), labels, labels, PROMETHEUS_PORT, PROMETHEUS_PORT, c.service_types["metric"]),
    ]
