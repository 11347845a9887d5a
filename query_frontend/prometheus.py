"""Prometheus exposition text that is valid whatever names Redis holds.

The original exporter turned each ``/metrics`` figure into a gauge named
``<metric>_<field>`` with ``:`` and ``-`` replaced by ``_``; those names are
kept wherever they are valid. Any other character (a space, a quote, a
non-ASCII letter an old admin stored in Redis) also becomes ``_``, a name
that would then collide with one already on the page gets a short hash of
the original name, and label values are escaped, so no application or
model name can make a scraper reject the page.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable

_VALID_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_INVALID_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_:]")

Samples = Iterable[tuple[dict[str, str], float]]


class MetricNames:
    """Prometheus names for the original's metric names, each valid and used once per page."""

    def __init__(self) -> None:
        self._taken: dict[str, str] = {}

    def name(self, metric: str) -> str:
        name = metric.replace(":", "_").replace("-", "_")
        if not _VALID_NAME.fullmatch(name):
            name = _INVALID_NAME_CHAR.sub("_", name)
            if not name or name[0].isdigit():
                name = "_" + name
        owner = self._taken.setdefault(name, metric)
        if owner != metric:
            name = f"{name}_{hashlib.sha1(metric.encode('utf-8', 'replace')).hexdigest()[:8]}"
            self._taken[name] = metric
        return name


def label(value: str) -> str:
    """A label value as the text format needs it: UTF-8, with backslash, quote and newline escaped."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class PrometheusPage:
    """One scrape's text, family by family."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names = MetricNames()

    def original_gauge(self, metric: str, value: str) -> None:
        """A figure of the original's report (``app:<app>:num_predictions`` + ``_count``); text is skipped."""
        try:
            parsed = float(value)
        except ValueError:
            return
        name = self.names.name(metric)
        self.lines += [f"# HELP {name} help", f"# TYPE {name} gauge", f"{name} {number(parsed)}"]

    def family(self, kind: str, name: str, help_text: str, samples: Samples) -> None:
        """A family of ours (fixed, valid names) with labelled samples."""
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, sample in samples:
            label_text = ",".join(f'{k}="{label(v)}"' for k, v in labels.items())
            # Counters print as integers, gauges as floats (as the original page did).
            shown = str(sample) if kind == "counter" and isinstance(sample, int) else number(float(sample))
            self.lines.append(f"{name}{{{label_text}}} {shown}" if label_text else f"{name} {shown}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
