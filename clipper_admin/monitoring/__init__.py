"""The Prometheus alerting rules shipped for statistical monitoring (``alert_rules.yaml``).

The rules read the query frontend's monitoring families (docs/metrics.md)
and alert on input drift, output drift, an accuracy drop, an error
increase and a rising default-output rate; docs/monitoring.md gives the
thresholds. The local cluster's Prometheus loads them
(``clipper_admin.local.prometheus``); elsewhere point ``rule_files`` at
:func:`alert_rules_path`'s file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALERTS", "alert_rules", "alert_rules_path"]

ALERTS: tuple[str, ...] = ("ClipperInputDrift", "ClipperOutputDrift", "ClipperAccuracyDrop", "ClipperErrorIncrease",
                           "ClipperDefaultRateUp")
"""The alerts the rules define."""


def alert_rules_path() -> Path:
    """Where the shipped rules file is (inside the installed package)."""
    return Path(__file__).with_name("alert_rules.yaml")


def alert_rules(for_duration: str | None = None) -> dict[str, Any]:
    """The shipped rules as data; with ``for_duration`` (``"30s"``) every alert's ``for`` replaced by it."""
    rules: dict[str, Any] = yaml.safe_load(alert_rules_path().read_text())
    if for_duration is not None:
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = for_duration
    return rules
