"""The Prometheus configuration of a Docker cluster, kept in a file on the host.

Prometheus scrapes every query frontend directly (job ``query``, path
``/metrics/prometheus``, one target per frontend; there is no exporter container) and every model
replica on its metrics port (one job per replica, named after its
container, as the original). The file is bind-mounted read-only into the
Prometheus container; replicas are added and removed by rewriting it in
place (a bind-mounted file must keep its inode) and POSTing ``/-/reload``.

The monitoring alerts (``clipper_admin/monitoring/alert_rules.yaml``, or the
file ``$CLIPPER_PROMETHEUS_RULES`` names) are copied next to it
(``<config>-alert_rules.yaml``, :func:`rules_file_path`) and mounted beside
it in the container as ``/etc/prometheus/alert_rules.yaml``, which
``rule_files`` names relative to the configuration (so the same
configuration checks with ``promtool`` next to a copy of the rules).
``$CLIPPER_ALERTMANAGERS`` (``host:port``, comma-separated) adds the
Alertmanagers Prometheus sends its alerts to, as on a local cluster.

The file is JSON, which is valid YAML, so no YAML library is needed.
:func:`global_config` and :func:`query_job` are not Docker-specific: the
local cluster's Prometheus (``clipper_admin.local.prometheus``) uses them
too, so both clusters have the same jobs; :func:`rules_text` and
:func:`alerting_config` serve the Kubernetes manifests too. This module imports nothing of the
Docker engine, so importing it stays cheap.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import requests

from clipper_admin.container_manager import CLIPPER_INTERNAL_METRIC_PORT, CLIPPER_INTERNAL_QUERY_PORT
from clipper_admin.exceptions import ClipperException
from clipper_admin.monitoring import alert_rules_path

if TYPE_CHECKING:
    from clipper_admin.docker.engine import Logger

QUERY_JOB = "query"
QUERY_METRICS_PATH = "/metrics/prometheus"
SCRAPE_INTERVAL = "5s"
_RELOAD_TIMEOUT_S = 10
#: The rules file's name beside ``prometheus.yml`` (Docker container, Kubernetes ConfigMap key, local cluster).
RULES_FILE_NAME = "alert_rules.yaml"
#: Names a rules file to load instead of the shipped monitoring alerts (as ``clipper_admin.local.prometheus``).
RULES_ENV = "CLIPPER_PROMETHEUS_RULES"
#: Alertmanagers (``host:port``, comma-separated) Prometheus sends its alerts to.
ALERTMANAGERS_ENV = "CLIPPER_ALERTMANAGERS"


def global_config(interval: str = SCRAPE_INTERVAL) -> dict[str, Any]:
    """The ``global`` section: scrape and evaluation every ``interval`` (the original's 5 s)."""
    return {"evaluation_interval": interval, "scrape_interval": interval}


def query_job(targets: list[str]) -> dict[str, Any]:
    """The scrape job of the query frontends at ``targets`` (``host:port`` each)."""
    return {"job_name": QUERY_JOB, "metrics_path": QUERY_METRICS_PATH, "static_configs": [{"targets": targets}]}


def rules_source() -> str:
    """The rules file to load: ``$CLIPPER_PROMETHEUS_RULES``, else the shipped monitoring alerts."""
    return os.environ.get(RULES_ENV) or str(alert_rules_path())


def rules_text() -> str:
    """The text of :func:`rules_source`'s file (ClipperException when it cannot be read)."""
    source = rules_source()
    try:
        with open(source) as f:
            return f.read()
    except OSError as e:
        raise ClipperException(f"Cannot read the Prometheus rules file {source} ({RULES_ENV}): {e}") from e


def alertmanager_targets() -> list[str]:
    """The Alertmanagers of ``$CLIPPER_ALERTMANAGERS`` (``host:port`` each)."""
    return [a.strip() for a in os.environ.get(ALERTMANAGERS_ENV, "").split(",") if a.strip()]


def alerting_config() -> dict[str, Any] | None:
    """The ``alerting`` section sending alerts to :func:`alertmanager_targets`; None when there are none."""
    targets = alertmanager_targets()
    return {"alertmanagers": [{"static_configs": [{"targets": targets}]}]} if targets else None


def initial_config(query_frontend_names: str | list[str]) -> dict[str, Any]:
    """Global 5 s intervals (the original's), the monitoring alerts beside the file, the job of the query
    frontend(s), and the Alertmanagers of ``$CLIPPER_ALERTMANAGERS`` if any."""
    names = [query_frontend_names] if isinstance(query_frontend_names, str) else list(query_frontend_names)
    config: dict[str, Any] = {
        "global": global_config(),
        "rule_files": [RULES_FILE_NAME],  # relative: beside the configuration file
        "scrape_configs": [query_job([f"{name}:{CLIPPER_INTERNAL_QUERY_PORT}" for name in names])],
    }
    alerting = alerting_config()
    if alerting is not None:
        config["alerting"] = alerting
    return config


def rules_file_path(config_path: str) -> str:
    """Where :func:`create_config_file` put the rules of the configuration at ``config_path``."""
    root, _ = os.path.splitext(config_path)
    return f"{root}-{RULES_FILE_NAME}"


def create_config_file(cluster_name: str, query_frontend_names: str | list[str]) -> str:
    """Write the initial configuration to a new temp file, and the rules beside it; returns its real path."""
    rules = rules_text()
    fd, path = tempfile.mkstemp(prefix=f"clipper-{cluster_name}-prometheus-", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(initial_config(query_frontend_names), f, indent=2)
        with open(rules_file_path(path), "w") as f:
            f.write(rules)
        # Prometheus runs as a user of its own inside the container: it must be able to read them.
        os.chmod(path, 0o644)
        os.chmod(rules_file_path(path), 0o644)
    except BaseException:
        remove_config_files(path)
        raise
    return os.path.realpath(path)


def remove_config_files(config_path: str) -> None:
    """Remove a configuration :func:`create_config_file` wrote and its rules file."""
    for path in (config_path, rules_file_path(config_path)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@contextmanager
def _edit(path: str) -> Iterator[dict[str, Any]]:
    """Read-modify-write ``path`` in place under an exclusive lock (other admin processes may edit too)."""
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        config: dict[str, Any] = json.load(f)
        yield config
        f.seek(0)
        f.truncate()
        json.dump(config, f, indent=2)
        f.flush()


def _model_job(container_name: str) -> dict[str, Any]:
    return {
        "job_name": container_name,
        "static_configs": [{"targets": [f"{container_name}:{CLIPPER_INTERNAL_METRIC_PORT}"]}],
    }


def _update(path: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> bool:
    """Apply ``change`` to the scrape configs; True if they changed."""
    with _edit(path) as config:
        before = config.get("scrape_configs") or []
        after = change(list(before))
        config["scrape_configs"] = after
        return after != before


def add_model_targets(path: str, container_names: list[str]) -> bool:
    """Add one job per replica (replacing a job of the same name); True if the file changed."""
    names = set(container_names)
    return _update(path, lambda jobs: [j for j in jobs if j.get("job_name") not in names] + [_model_job(n) for n in container_names])


def remove_model_targets(path: str, container_names: list[str] | None = None) -> bool:
    """Remove the jobs of these replicas (all replicas' jobs when None); True if the file changed."""

    def keep(job: dict[str, Any]) -> bool:
        name = job.get("job_name")
        return name == QUERY_JOB if container_names is None else name not in container_names

    return _update(path, lambda jobs: [j for j in jobs if keep(j)])


def job_names(path: str) -> list[str]:
    """Names of the configured scrape jobs."""
    with open(path) as f:
        return [j.get("job_name", "") for j in json.load(f).get("scrape_configs") or []]


def reload(metric_addr: str, logger: Logger) -> bool:
    """Ask Prometheus at ``host:port`` to re-read its configuration.

    Metrics are not worth failing a deployment for: a failure is logged
    as a warning and reported by the return value.
    """
    url = f"http://{metric_addr}/-/reload"
    try:
        r = requests.post(url, timeout=_RELOAD_TIMEOUT_S)
    except requests.RequestException as e:
        logger.warning("Could not reload the Prometheus configuration at %s: %s", url, e)
        return False
    if r.status_code != requests.codes.ok:
        logger.warning("Prometheus refused to reload its configuration (%s): %s", r.status_code, r.text.strip())
        return False
    return True
