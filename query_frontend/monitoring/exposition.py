"""The monitoring families of the Prometheus page (docs/metrics.md lists them).

Applications, model versions and features are label values, never parts of
a name. A series is left out while its figure is unknown (no reference yet,
too few samples, no feedback), so an alert never fires on missing data and
``absent()`` tells "not measured" from "zero".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clipper_protocol import monitoring_api as mapi
from query_frontend.prometheus import PrometheusPage

Sample = tuple[dict[str, str], float]
WINDOWS = ("recent", "reference", "lifetime")


def _windows(labels: dict[str, str], w: mapi.Windows) -> Iterable[Sample]:
    for window in WINDOWS:
        value = getattr(w, window)
        if value is not None:
            yield {**labels, "window": window}, value


def render(page: PrometheusPage, reports: Mapping[str, mapi.AppMonitoring]) -> None:
    """Add every monitoring family for ``reports`` to ``page``."""
    apps = list(reports.items())
    versions = [({"app": a, "model": m.model, "version": m.version}, m) for a, r in apps for m in r.models]
    page.family("counter", "clipper_monitoring_sampled_total", "Queries sampled by monitoring, by application.",
                [({"app": a}, r.sampled) for a, r in apps])
    page.family("gauge", "clipper_monitoring_reference_samples",
                "Samples in the application's input reference window (complete at monitoring_reference_size).",
                [({"app": a}, r.reference.size) for a, r in apps])
    page.family("gauge", "clipper_monitoring_reference_start_timestamp_seconds",
                "When the application's reference windows started (deploy, link or reset).",
                [({"app": a}, r.reference.started_at) for a, r in apps])
    page.family("gauge", "clipper_input_drift_psi",
                "Population stability index of an input feature, recent window against the reference.",
                [({"app": a, "feature": f.feature}, f.psi) for a, r in apps for f in r.features if f.psi is not None])
    page.family("gauge", "clipper_input_drift_ks",
                "Two-sample Kolmogorov-Smirnov statistic of a numeric input feature, recent against reference.",
                [({"app": a, "feature": f.feature}, f.ks) for a, r in apps for f in r.features if f.ks is not None])
    page.family("gauge", "clipper_input_type_share",
                "Share of strings or bytes inputs of each kind, by window.",
                [s for a, r in apps for kind, w in (r.type_mix or {}).items()
                 for s in _windows({"app": a, "kind": kind}, w)])
    page.family("gauge", "clipper_default_rate", "Share of sampled queries answered with the default output.",
                [s for a, r in apps for s in _windows({"app": a}, r.defaults.rate)])
    page.family("gauge", "clipper_default_reason_share",
                "Share of the recent window's sampled queries answered with the default output, by reason.",
                [({"app": a, "reason": reason}, share) for a, r in apps
                 for reason, share in r.defaults.recent_reasons.items()])
    page.family("counter", "clipper_feedback_unmatched_total",
                "Feedbacks no model version's cached answer matched, by application.",
                [({"app": a}, r.feedback_unmatched) for a, r in apps])
    page.family("gauge", "clipper_output_drift_psi",
                "Population stability index of a model version's answers, recent window against the reference.",
                [(lt, m.outputs.psi) for lt, m in versions if m.outputs.psi is not None])
    page.family("gauge", "clipper_output_drift_ks",
                "Kolmogorov-Smirnov statistic of a model version's numeric answers, recent against reference.",
                [(lt, m.outputs.ks) for lt, m in versions if m.outputs.ks is not None])
    page.family("counter", "clipper_model_feedback_total",
                "Feedbacks attributed to a model version's answer.", [(lt, m.quality.feedback) for lt, m in versions])
    page.family("gauge", "clipper_model_feedback_window",
                "Feedbacks in the version's recent quality window (at most monitoring_feedback_window).",
                [(lt, min(m.quality.feedback, m.quality.reference.capacity)) for lt, m in versions])
    page.family("gauge", "clipper_model_accuracy",
                "Share of a classifier version's answers equal to the label, by window.",
                [s for lt, m in versions if m.quality.kind == mapi.CLASSIFIER
                 for s in _windows(lt, m.quality.accuracy)])
    page.family("gauge", "clipper_model_mean_absolute_error",
                "Mean absolute error of a regressor version's answers, by window.",
                [s for lt, m in versions if m.quality.kind == mapi.REGRESSOR for s in _windows(lt, m.quality.mae)])
