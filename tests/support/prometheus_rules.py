"""Checks shared by the Docker and Kubernetes tests of the Prometheus that loads the monitoring alerts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from clipper_admin.monitoring import ALERTS, alert_rules
from tests.support.ci import skip_or_fail


def promtool() -> str:
    """The ``promtool`` binary (Debian's ``prometheus`` package); skip locally, fail under CI=true without it."""
    found = shutil.which("promtool")
    if found is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus)")
    assert found is not None
    return found


def check_config_with_rules(directory: Path, config: dict[str, Any], rules: str) -> str:
    """``promtool check config`` on ``config`` as ``directory/prometheus.yml`` beside ``rules`` as
    ``alert_rules.yaml`` (as the container sees them), run from elsewhere so that ``rule_files`` must
    resolve next to the configuration; asserts success and that every shipped alert was loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    (directory / "alert_rules.yaml").write_text(rules)
    done = subprocess.run([promtool(), "check", "config", str(directory / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60, cwd="/")  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "SUCCESS: 1 rule files found" in out, out
    assert f"SUCCESS: {len(ALERTS)} rules found" in out, out
    return out


def shipped_rule_groups() -> dict[str, list[str]]:
    """The shipped rules' groups and the alerts of each, as Prometheus's ``/api/v1/rules`` lists them."""
    return {g["name"]: [r["alert"] for r in g["rules"]] for g in alert_rules()["groups"]}
