"""What the query path hands monitoring: O(1) per query, into bounded queues.

:meth:`Recorder.observe` runs once per answered query: it counts down to
the next sample (one query in ``sample_every``) and, for a sampled query,
appends the first bytes of its input, the input's length, its default
reason and the answer of each model version that served it to the
application's queue. :meth:`Recorder.feedback` runs once per ``/update``:
it looks the input up in the prediction cache for each version of a linked
model (the query that preceded the feedback left its answer there) and
queues (version, answer, label). Queues hold at most ``pending`` entries
(the oldest go first); the monitor drains them off the query path.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from query_frontend.cache import ModelOutput, PendingPrediction, PredictionCache
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.monitoring.inputs import prefix_bytes
from query_frontend.monitoring.limits import MonitoringLimits
from query_frontend.results import QueryResult, SelectedResult

ModelVersion = tuple[str, str]
Answer = tuple[str, str, object]
"""(model, version, the version's answer)."""
Sample = tuple[bytes, int, "str | None", tuple[Answer, ...]]
"""A sampled query: input prefix, input length in bytes, default reason (None: answered), answers."""
FeedbackSample = tuple[str, str, str, object, float, float]
"""(app, model, version, the version's answer, label, Unix time)."""


class AppSampler:
    """One application's sampling state (pre-built, so a query does a few attribute updates)."""

    __slots__ = ("countdown", "every", "prefix", "pending", "input_type")

    def __init__(self, app: AppConfig, limits: MonitoringLimits) -> None:
        self.every = limits.sample_every
        self.countdown = 1  # the first query is sampled
        self.input_type = app.input_type
        self.prefix = prefix_bytes(app.input_type, limits.max_features)
        self.pending: deque[Sample] = deque(maxlen=limits.pending)


class Recorder:
    """Samples queries and feedback for the monitor; nothing here computes a statistic."""

    def __init__(self, limits: MonitoringLimits, config: ClusterConfig, cache: PredictionCache,
                 served_versions: Callable[[], Iterable[ModelVersion]]) -> None:
        self.limits = limits
        self.config = config
        self.cache = cache
        self.served_versions = served_versions
        """The model versions that have a queue (those the cache can hold answers of)."""
        self.samplers: dict[str, AppSampler] = {}
        self.feedbacks: deque[FeedbackSample] = deque(maxlen=limits.pending)
        self.unmatched: Counter[str] = Counter()

    def observe(self, app: AppConfig, packed: bytes, version: str | None, result: QueryResult) -> None:
        """One query answered with ``result`` (``version``: the version the query pinned, if any)."""
        sampler = self.samplers.get(app.name)
        if sampler is None or sampler.input_type is not app.input_type:
            sampler = self.samplers[app.name] = AppSampler(app, self.limits)
        sampler.countdown -= 1
        if sampler.countdown:
            return
        sampler.countdown = sampler.every
        sampler.pending.append((packed[: sampler.prefix], len(packed), result.reason,
                                () if result.default else self._answers(app, packed, version, result)))

    def _answers(self, app: AppConfig, packed: bytes, version: str | None, result: QueryResult) -> tuple[Answer, ...]:
        if isinstance(result, SelectedResult):
            if not result.ensemble:
                return tuple((m, v, result.output) for m, v in result.served)
            # An ensemble's output is a combination: each model's own answer is in the cache.
            answers = []
            for m, v in result.served:
                found = self.cache.get((m, v, packed))
                if isinstance(found, ModelOutput):
                    answers.append((m, v, found.value))
            return tuple(answers)
        if not app.linked_models:
            return ()
        model = app.linked_models[0]
        version = version or self.config.current_versions.get(model)
        return () if version is None else ((model, version, result.output),)

    def feedback(self, app: AppConfig, packed: bytes, label: float) -> None:
        """One ``/update``: attribute ``label`` to every linked version whose answer for ``packed`` is cached."""
        linked = app.linked_models
        matched = False
        for model, version in list(self.served_versions()):
            if model not in linked:
                continue
            found = self.cache.get((model, version, packed))
            if isinstance(found, ModelOutput):
                self.feedbacks.append((app.name, model, version, found.value, label, time.time()))
                matched = True
            elif isinstance(found, PendingPrediction):
                # Feedback ahead of the answer: take the answer when it comes.
                found.future.add_done_callback(self._late(app.name, model, version, label))
                matched = True
        if not matched:
            self.unmatched[app.name] += 1

    def _late(self, app: str, model: str, version: str, label: float) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            if not future.cancelled() and future.exception() is None:
                self.feedbacks.append((app, model, version, future.result().value, label, time.time()))

        return done

    def drain(self) -> tuple[dict[str, tuple[AppSampler, list[Sample]]], list[FeedbackSample]]:
        """Every queued sample, by application, and every queued feedback; the queues are left empty."""
        samples = {}
        for name, sampler in self.samplers.items():
            if sampler.pending:
                batch = list(sampler.pending)
                sampler.pending.clear()
                samples[name] = (sampler, batch)
        feedbacks = list(self.feedbacks)
        self.feedbacks.clear()
        return samples, feedbacks

    def forget(self, app: str) -> None:
        self.samplers.pop(app, None)
        self.unmatched.pop(app, None)
