"""The bounds of monitoring, from the frontend's settings (every structure is sized from these)."""

from __future__ import annotations

from dataclasses import dataclass

from clipper_protocol.monitoring_api import QUALITY_KINDS


@dataclass(frozen=True, slots=True)
class MonitoringLimits:
    """Window sizes, feature caps and thresholds of one frontend's monitoring."""

    sample_every: int = 1
    reference_size: int = 1000
    window_size: int = 1000
    min_window: int = 100
    max_features: int = 32
    feedback_window: int = 1000
    bucket_s: float = 60.0
    buckets: int = 60
    max_classes: int = 20
    max_categories: int = 50
    pending: int = 4096
    """Samples (and feedbacks) held between two ticks; past it the oldest are dropped."""
    quality_kinds: tuple[tuple[str, str], ...] = ()
    """(app, kind) overrides of the classifier/regressor decision."""

    def quality_kind(self, app: str) -> str | None:
        return dict(self.quality_kinds).get(app)


def parse_quality_kinds(text: str) -> tuple[tuple[str, str], ...]:
    """``"app=classifier,other=regressor"`` as pairs; raises ValueError naming a bad item."""
    pairs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        app, sep, kind = item.partition("=")
        if not sep or not app.strip() or kind.strip() not in QUALITY_KINDS:
            raise ValueError(f"expected APP=classifier or APP=regressor, got {item!r}")
        pairs.append((app.strip(), kind.strip()))
    return tuple(pairs)
