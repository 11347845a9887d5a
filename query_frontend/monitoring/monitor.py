"""The monitor: drains the recorder, keeps each application's windows, computes and reports the figures.

It runs off the query path: a background loop (``monitoring`` under the
frontend's TaskSupervisor) ticks every ``monitoring_interval_s``, taking
samples in by steps of :data:`STEP` with a yield to the event loop between
steps, so queries wait at most one step (about a millisecond); each read of
the figures (``GET /metrics``, ``GET /<app>/monitoring``, a Prometheus
scrape) ticks first, so what is read is never older than the read. An
application's figures are computed again only when its windows changed.

Reference windows restart (reason ``deploy``) when the model versions an
application serves change: a link, an unlink or a new current version;
:meth:`Monitor.reset` restarts them on request (reason ``reset``). State is
dropped with its application, or with its model version once the version
is no longer registered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from clipper_protocol import monitoring_api as mapi
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.monitoring import exposition
from query_frontend.monitoring.inputs import InputMonitor, InputSample
from query_frontend.monitoring.limits import MonitoringLimits
from query_frontend.monitoring.outputs import OutputMonitor
from query_frontend.monitoring.quality import QualityMonitor
from query_frontend.monitoring.recorder import FeedbackSample, Recorder, Sample
from query_frontend.monitoring.windows import ReferenceClock
from query_frontend.prometheus import PrometheusPage

log = logging.getLogger("clipper.query_frontend.monitoring")

ModelVersion = tuple[str, str]
STEP = 512
"""Samples the background tick takes in between two yields to the event loop."""


class VersionState:
    """One model version's answers and feedback for one application."""

    def __init__(self, limits: MonitoringLimits, kind: str | None, reason: str) -> None:
        self.clock = ReferenceClock(reason)
        self.outputs = OutputMonitor(limits)
        self.quality = QualityMonitor(limits, kind)

    def reset(self, reason: str) -> None:
        self.clock.restart(reason)
        self.outputs.reset()
        self.quality.reset()


class AppState:
    """One application's monitoring state."""

    def __init__(self, app: AppConfig, limits: MonitoringLimits, current: dict[str, str]) -> None:
        self.input_type = app.input_type
        self.clock = ReferenceClock("start")
        self.inputs = InputMonitor(app.input_type, limits)
        self.versions: dict[ModelVersion, VersionState] = {}
        self.served = _served(app, current)
        self.changes = 0
        """Bumped by every change of the windows: the key of ``cached``."""
        self.resets = 0
        self.cached: tuple[tuple[int, int], mapi.AppMonitoring] | None = None

    def reset(self, reason: str) -> None:
        self.changes += 1
        self.resets += 1
        self.clock.restart(reason)
        self.inputs.reset()
        for v in self.versions.values():
            v.reset(reason)


def _served(app: AppConfig, current: dict[str, str]) -> tuple[tuple[str, str | None], ...]:
    return tuple((m, current.get(m)) for m in app.linked_models)


class Monitor:
    """Statistical monitoring of every application of one query frontend."""

    def __init__(self, limits: MonitoringLimits, config: ClusterConfig, recorder: Recorder) -> None:
        self.limits = limits
        self.config = config
        self.recorder = recorder
        self.apps: dict[str, AppState] = {}
        self.ticks = 0

    async def run(self, interval_s: float) -> None:
        """The background loop: a tick every ``interval_s``, in steps."""
        while True:
            await asyncio.sleep(interval_s)
            await self.tick_in_steps()

    def tick(self) -> None:
        """Follow the configuration, then take in what the recorder queued (at once: a read waits for it)."""
        self.ticks += 1
        self._follow_config()
        samples, feedbacks = self.recorder.drain()
        for name, (sampler, batch) in samples.items():
            state = self.apps.get(name)
            if state is not None and state.input_type is sampler.input_type:
                self._take_samples(name, state, batch)
        self._take_feedbacks(feedbacks)

    async def tick_in_steps(self) -> None:
        """:meth:`tick`, yielding to the event loop every :data:`STEP` samples.

        A read in between ticks too and may take in newer samples before the
        rest of these (harmless: both are after the same reference start). A
        reset in between drops the rest, which came before it.
        """
        self.ticks += 1
        self._follow_config()
        samples, feedbacks = self.recorder.drain()
        for name, (sampler, batch) in samples.items():
            state = self.apps.get(name)
            resets = state.resets if state is not None else 0
            for start in range(0, len(batch), STEP):
                if state is None or self.apps.get(name) is not state or state.resets != resets \
                        or state.input_type is not sampler.input_type:
                    break
                self._take_samples(name, state, batch[start:start + STEP])
                await asyncio.sleep(0)
        self._take_feedbacks(feedbacks)

    def _take_feedbacks(self, feedbacks: list[FeedbackSample]) -> None:
        for app, model, version, answer, label, at in feedbacks:
            state = self.apps.get(app)
            if state is not None and (model, version) in self.config.models:
                state.changes += 1
                self._version(app, state, (model, version)).quality.add(answer, label, at)

    def _follow_config(self) -> None:
        apps, current = self.config.apps, self.config.current_versions
        for name in [n for n in self.apps if n not in apps or apps[n].input_type is not self.apps[n].input_type]:
            del self.apps[name]
            if name not in apps:
                self.recorder.forget(name)
        for name, app in apps.items():
            state = self.apps.get(name)
            if state is None:
                self.apps[name] = AppState(app, self.limits, current)
                continue
            served = _served(app, current)
            if served != state.served:
                log.info("Application %s now serves %s: monitoring starts new reference windows", name,
                         ", ".join(f"{m}:{v}" for m, v in served) or "no model")
                state.served = served
                state.reset("deploy")
            for key in [k for k in state.versions if k not in self.config.models]:
                del state.versions[key]
                state.changes += 1

    def _version(self, app: str, state: AppState, key: ModelVersion) -> VersionState:
        v = state.versions.get(key)
        if v is None:
            v = state.versions[key] = VersionState(self.limits, self.limits.quality_kind(app), "start")
        return v

    def _take_samples(self, name: str, state: AppState, batch: list[Sample]) -> None:
        state.changes += 1
        inputs: list[InputSample] = []
        answers: dict[ModelVersion, list[object]] = defaultdict(list)
        for prefix, length, reason, served in batch:
            inputs.append((prefix, length, reason))
            for model, version, value in served:
                answers[(model, version)].append(value)
        state.inputs.add(inputs)
        for key, values in answers.items():
            if key in self.config.models:
                self._version(name, state, key).outputs.add(values)

    # ------------------------------------------------------------------ requests

    def reset(self, app: str) -> float | None:
        """Restart every reference window of ``app``; when they started, or None for an unknown application."""
        self.tick()
        state = self.apps.get(app)
        if state is None:
            return None
        state.reset("reset")
        log.info("Monitoring of %s: reference windows restarted on request", app)
        return state.clock.started_at

    def report(self, app: str, fresh: bool = True) -> mapi.AppMonitoring | None:
        """The figures of ``app`` (after a tick unless ``fresh`` is False), or None for an unknown application."""
        if fresh:
            self.tick()
        state = self.apps.get(app)
        return None if state is None else self._report(app, state)

    def reports(self) -> dict[str, mapi.AppMonitoring]:
        """Every application's figures, after a tick."""
        self.tick()
        return {name: self._report(name, state) for name, state in sorted(self.apps.items())}

    def json_report(self) -> dict[str, Any]:
        """``{app: AppMonitoring as JSON}``: the ``monitoring`` key of ``GET /metrics``."""
        return {name: r.to_json() for name, r in self.reports().items()}

    def render_prometheus(self, page: PrometheusPage) -> None:
        """Every application's monitoring families on a Prometheus page, after a tick."""
        exposition.render(page, self.reports())

    def _report(self, name: str, state: AppState) -> mapi.AppMonitoring:
        key = (state.changes, self.recorder.unmatched.get(name, 0))
        if state.cached is None or state.cached[0] != key:
            state.cached = key, self._compute(name, state)
        return state.cached[1]

    def _compute(self, name: str, state: AppState) -> mapi.AppMonitoring:
        inputs = state.inputs
        models = []
        for (model, version), v in sorted(state.versions.items()):
            size, capacity = v.outputs.info()
            models.append(mapi.ModelMonitoring(
                model, version, v.outputs.answers, v.clock.info(size, capacity), v.outputs.report(),
                v.quality.report(v.clock.started_at, v.clock.reason)))
        return mapi.AppMonitoring(
            app=name, input_type=state.input_type.canonical_name, updated_at=time.time(),
            sample_every=self.limits.sample_every, sampled=inputs.sampled,
            reference=state.clock.info(inputs.reference_size, self.limits.reference_size),
            window=inputs.numbers.recent_size, features=inputs.features(), features_seen=inputs.features_seen,
            type_mix=inputs.type_mix(), defaults=inputs.default_rates(), models=models,
            feedback_unmatched=self.recorder.unmatched.get(name, 0),
        )
