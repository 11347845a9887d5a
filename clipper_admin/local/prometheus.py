"""The Prometheus of a local cluster: which binary, its configuration, its replica targets.

As on Docker, Prometheus scrapes the query frontend (job ``query``, path
``/metrics/prometheus``) and every model replica on its metrics port, each
replica under a job named after it (Docker names it after its container;
here the replica's process name, ``<model>_<version>-<n>``). The jobs come
from ``clipper_admin.docker.prometheus_config``, so both clusters label
their series the same way.

Unlike Docker, the replicas are not jobs of the configuration file: one
scrape configuration reads them from a ``file_sd_configs`` targets file,
each target group setting its ``job`` label, and that file is rewritten
atomically (a new file renamed over it) whenever replicas start or stop.
Prometheus notices the rename by itself; nothing is reloaded. Files, in the
cluster directory::

    prometheus/prometheus.yml   the configuration (JSON, which is valid YAML)
    prometheus/models.json      the replica targets
    prometheus/alert_rules.yaml the monitoring alerts (``clipper_admin/monitoring``)
    prometheus/data/            the time series (removed with the cluster)

The alerting rules are the shipped ``clipper_admin/monitoring/alert_rules.yaml``,
or the file ``$CLIPPER_PROMETHEUS_RULES`` names. Prometheus evaluates them
(its ``/alerts`` page) and, when ``$CLIPPER_ALERTMANAGERS`` lists Alertmanager
addresses (``host:port``, comma-separated), sends them there.

The binary is ``$CLIPPER_PROMETHEUS`` if set, else ``prometheus`` on PATH
(Debian's ``prometheus`` package installs ``/usr/bin/prometheus``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from clipper_admin.docker import prometheus_config
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import launch
from clipper_admin.local.cluster_state import ClusterPaths, ClusterState, ReplicaInfo
from clipper_admin.monitoring import alert_rules_path

#: The port Prometheus asks for by default; when it is taken another free one is used.
DEFAULT_PORT = 9090
#: The scrape configuration whose targets (the replicas) come from the targets file.
MODELS_JOB = "models"
#: Names a Prometheus binary to run instead of ``prometheus`` on PATH.
BINARY_ENV = "CLIPPER_PROMETHEUS"
#: How often the targets file is re-read should a rename go unnoticed (it is watched too).
TARGETS_REFRESH_INTERVAL = "30s"
#: Names a rules file to load instead of the shipped monitoring alerts.
RULES_ENV = "CLIPPER_PROMETHEUS_RULES"
#: Alertmanagers (``host:port``, comma-separated) Prometheus sends its alerts to.
ALERTMANAGERS_ENV = "CLIPPER_ALERTMANAGERS"

INSTALL_HINT = "install it (apt-get install prometheus, or a release from https://prometheus.io/download/)"


def config_file(paths: ClusterPaths) -> Path:
    return paths.prometheus_dir / "prometheus.yml"


def targets_file(paths: ClusterPaths) -> Path:
    return paths.prometheus_dir / "models.json"


def rules_file(paths: ClusterPaths) -> Path:
    return paths.prometheus_dir / "alert_rules.yaml"


def data_dir(paths: ClusterPaths) -> Path:
    return paths.prometheus_dir / "data"


def replica_metrics_addr(replica: ReplicaInfo) -> str:
    """``host:port`` where a replica serves its metrics (what Prometheus scrapes)."""
    return f"127.0.0.1:{replica.metrics_port}"


def find_prometheus() -> str | None:
    """The Prometheus binary to run, or None if there is none.

    ``$CLIPPER_PROMETHEUS`` names one explicitly: if it is not an executable
    file that is an error (ClipperException), not a missing optional piece.
    """
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ClipperException(f"{BINARY_ENV}={explicit} is not an executable file; point it at a prometheus binary")
        return explicit
    return shutil.which("prometheus")


def choose_binary(requested_port: int | None, logger: launch.Logger) -> str | None:
    """The binary to start for ``prometheus_port=requested_port``, or None to run without Prometheus.

    None (off) starts none. Missing binary: with the default port or 0 the
    cluster runs without Prometheus after one warning; with another port the
    user asked for Prometheus specifically, so ClipperException says what
    to install.
    """
    if requested_port is None:
        return None
    binary = find_prometheus()
    if binary is not None:
        return binary
    if requested_port in (0, DEFAULT_PORT):
        logger.warning(
            "Prometheus is not installed (no prometheus on PATH): the cluster runs without it and "
            "get_metric_addr() is the query frontend's. To collect metrics, %s; to not ask for it, "
            "pass LocalContainerManager(prometheus_port=None).",
            INSTALL_HINT,
        )
        return None
    raise ClipperException(
        f"prometheus_port={requested_port} asks for Prometheus, but no prometheus binary is on PATH: "
        f"{INSTALL_HINT}, set {BINARY_ENV} to its path, or pass prometheus_port=None to run without it."
    )


def build_config(paths: ClusterPaths, state: ClusterState, scrape_interval: str) -> dict[str, Any]:
    """The configuration: the query frontend's job (static), the replicas' (from the targets file), the
    monitoring alerts, and the Alertmanagers of ``$CLIPPER_ALERTMANAGERS``."""
    config = {
        "global": prometheus_config.global_config(scrape_interval),
        "rule_files": [str(rules_file(paths))],
        "scrape_configs": [
            prometheus_config.query_job([f"127.0.0.1:{state.query_port}"]),
            {
                "job_name": MODELS_JOB,
                "file_sd_configs": [{"files": [str(targets_file(paths))], "refresh_interval": TARGETS_REFRESH_INTERVAL}],
            },
        ],
    }
    alertmanagers = [a.strip() for a in os.environ.get(ALERTMANAGERS_ENV, "").split(",") if a.strip()]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
    return config


def target_groups(state: ClusterState) -> list[dict[str, Any]]:
    """One target group per replica, its ``job`` label the replica's name (Docker: its container's)."""
    return [
        {"targets": [replica_metrics_addr(p.replica)], "labels": {"job": p.name}}
        for p in sorted(state.replicas(), key=lambda p: p.name)
        if p.replica is not None
    ]


def write_config(paths: ClusterPaths, state: ClusterState, scrape_interval: str) -> None:
    """Write the configuration and the (current) targets file."""
    paths.prometheus_dir.mkdir(parents=True, exist_ok=True)
    source = os.environ.get(RULES_ENV) or str(alert_rules_path())
    try:
        shutil.copyfile(source, rules_file(paths))
    except OSError as e:
        raise ClipperException(f"Cannot copy the Prometheus rules file {source} ({RULES_ENV}): {e}") from e
    _write_atomically(config_file(paths), build_config(paths, state, scrape_interval))
    write_targets(paths, state)


def write_targets(paths: ClusterPaths, state: ClusterState) -> None:
    """Rewrite the targets file from the state's replicas (nothing when the cluster has no Prometheus).

    Called, under the cluster lock, whenever the replicas recorded in the
    state change. Atomic: Prometheus never reads a half-written file.
    """
    if state.prometheus_port is None or not paths.prometheus_dir.is_dir():
        return
    _write_atomically(targets_file(paths), target_groups(state))


def _write_atomically(path: Path, content: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def command(binary: str, paths: ClusterPaths, port: int) -> list[str]:
    """Command line of the cluster's Prometheus on 127.0.0.1:``port``."""
    return [
        binary,
        f"--config.file={config_file(paths)}",
        f"--storage.tsdb.path={data_dir(paths)}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]


def ready(port: int) -> Callable[[], bool]:
    """A readiness check: Prometheus on 127.0.0.1:``port`` answers ``/-/ready`` with 200."""
    url = f"http://127.0.0.1:{port}/-/ready"

    def check() -> bool:
        try:
            return requests.get(url, timeout=1).status_code == requests.codes.ok
        except requests.RequestException:
            return False

    return check
