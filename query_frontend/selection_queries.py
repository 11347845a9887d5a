"""Selection orchestration: queries and feedback of apps with a selection policy.

The policy (:mod:`query_frontend.selection`) names the models to ask; each is
asked through its own cache entry and queue. A single-model policy answers
like the default path; an ensemble waits until the SLO at most and combines
the answers that arrived (straggler mitigation); a cascade asks its stages
in turn (:mod:`query_frontend.selection.cascade`). Feedback asks the models
the policy needs, through the cache (the query that preceded it usually left
their answers there), and records what the policy learns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from query_frontend.cache import ModelOutput
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import NoConnectedModels, Overloaded, QueryFailed, QueueFull
from query_frontend.model_queues import ModelQueues
from query_frontend.results import QueryResult, SelectedResult
from query_frontend.selection import CascadePolicy, Feedback, SelectionPolicy, Target
from query_frontend.waiting import wait_all_until, wait_until

log = logging.getLogger("clipper.query_frontend.selection_queries")

FEEDBACK_MIN_WAIT_S = 1.0
"""Feedback waits for model answers at least this long, whatever the app's SLO:
learning from a late answer beats learning nothing."""

Policy = SelectionPolicy[Any]
ModelVersion = tuple[str, str]


class SelectionQueries:
    """Asks the models an application's policy selects; learns from feedback."""

    def __init__(self, config: ClusterConfig, queues: ModelQueues) -> None:
        self.config = config
        self.queues = queues
        self.feedback_learned = 0
        """Feedbacks that taught the policy something."""
        self.feedback_unanswered = 0
        """Feedbacks no model answered in time."""

    def _resolve_targets(self, app: AppConfig, targets: Sequence[Target]) -> list[ModelVersion]:
        """(model, version) of each target; unlinked models and unknown versions are dropped."""
        out = []
        current = self.config.current_versions
        for model, version in targets:
            if model not in app.linked_models:
                continue
            if version is None:
                version = current.get(model)
                if version is None:
                    continue
            elif not self.config.has_version(model, version):
                continue
            out.append((model, version))
        return out

    async def predict(
        self, app: AppConfig, selector: Policy, packed: bytes, uid: int, query_id: int, deadline: float
    ) -> QueryResult:
        if isinstance(selector, CascadePolicy):
            return await self._cascade(app, selector, packed, query_id, deadline)
        state = self.config.selection.state(app.name, selector.state_uid(uid), selector)
        targets = self._resolve_targets(app, selector.select(state, packed))
        if not selector.ensemble:
            if not targets:
                return SelectedResult(query_id, app.default_value, True, NoConnectedModels.explanation,
                                      reason=NoConnectedModels.reason)
            model, version = targets[0]
            try:
                found = self.queues.submit(model, version, packed, app.slo_s, deadline)
                output = found if isinstance(found, ModelOutput) else await wait_until(found.future, deadline)
            except QueryFailed as e:
                return SelectedResult(query_id, app.default_value, True, e.explanation, ((model, version),),
                                      reason=e.reason)
            return SelectedResult(query_id, output.value, False, None, ((model, version),))
        answers, why = await self._ask_all(targets, packed, app.slo_s, deadline)
        if not answers:
            return SelectedResult(query_id, app.default_value, True, why.explanation, (), True, reason=why.reason)
        by_model = {model: value for (model, _), value in answers.items()}
        combined, used = selector.combine(state, by_model)
        versions = {model: version for model, version in answers}
        return SelectedResult(query_id, combined, False, None, tuple((m, versions[m]) for m in used), True)

    async def _cascade(
        self, app: AppConfig, selector: CascadePolicy, packed: bytes, query_id: int, deadline: float
    ) -> QueryResult:
        """Ask the cascade's linked stages in order; the answer names the stage that gave it."""
        stages = [(i, found[0]) for i, target in enumerate(selector.targets)
                  if (found := self._resolve_targets(app, [target]))]
        why: QueryFailed = NoConnectedModels()
        overloaded: Overloaded | None = None

        async def ask(target: ModelVersion) -> tuple[bool, object]:
            nonlocal why, overloaded
            try:
                found = self.queues.submit(target[0], target[1], packed, app.slo_s, deadline)
                output = found if isinstance(found, ModelOutput) else await wait_until(found.future, deadline)
            except QueryFailed as e:
                why = e
                return False, None
            except Overloaded as e:
                overloaded = e
                return False, None
            return True, output.value

        outcome = await selector.run(stages, ask, self._batch_latency_s, deadline)
        answer = outcome.answer
        if answer is None:
            if overloaded is not None:
                raise overloaded
            return SelectedResult(query_id, app.default_value, True, why.explanation, reason=why.reason)
        return SelectedResult(query_id, answer.output, False, None, (answer.target,),
                              stage=answer.stage, confidence=answer.confidence)

    def _batch_latency_s(self, target: ModelVersion) -> float:
        """The model's smoothed batch latency (0.0 before its first batch): a cascade stage's expected cost."""
        queue = self.queues.get(target)
        return queue.controller.latency_ewma_s if queue is not None else 0.0

    async def _ask_all(
        self, targets: Sequence[ModelVersion], packed: bytes, slo_s: float, deadline: float
    ) -> tuple[dict[ModelVersion, object], QueryFailed]:
        """The answers of every target that answers by ``deadline`` (never later).

        Returns the answers and, for when there are none, why.
        """
        answers: dict[ModelVersion, object] = {}
        pending: dict[ModelVersion, asyncio.Future[ModelOutput]] = {}
        why: QueryFailed = NoConnectedModels()
        overloaded: Overloaded | None = None
        for target in targets:
            try:
                found = self.queues.submit(target[0], target[1], packed, slo_s, deadline)
            except QueryFailed as e:
                why = e
                continue
            except Overloaded as e:
                overloaded = e
                continue
            if isinstance(found, ModelOutput):
                answers[target] = found.value
            else:
                pending[target] = found.future
        if pending:
            why = QueryFailed()
            await wait_all_until(list(pending.values()), deadline)
            for target, future in pending.items():
                if future.done() and not future.cancelled():
                    error = future.exception()
                    if error is None:
                        answers[target] = future.result().value
                    elif isinstance(error, QueryFailed):
                        why = error
        if not answers and overloaded is not None:
            raise overloaded
        # Keep the targets' order, whatever order the answers came in.
        return {t: answers[t] for t in targets if t in answers}, why

    async def update(self, app: AppConfig, selector: Policy, uid: int, packed: bytes, label: float) -> bool:
        """Learn from one feedback; False if the learned state could not be saved.

        The policy names the models whose answers it needs; they are asked
        through the cache, waiting up to the app's SLO or
        ``FEEDBACK_MIN_WAIT_S``, whichever is longer.
        """
        if not selector.learns:
            return True
        store = self.config.selection
        state_uid = selector.state_uid(uid)
        state = store.state(app.name, state_uid, selector)
        targets = self._resolve_targets(app, selector.feedback_targets(state, packed))
        wait_s = max(app.slo_s, FEEDBACK_MIN_WAIT_S)
        try:
            answers, why = await self._ask_all(targets, packed, wait_s, time.monotonic() + wait_s)
        except Overloaded:
            answers, why = {}, QueueFull()
        if not answers:
            self.feedback_unanswered += 1
            log.info("Feedback for %s learned nothing: no model answered (%s)", app.name, why)
            return True
        self.feedback_learned += 1
        predictions = {model: value for (model, _), value in answers.items()}
        new_state = selector.observe(state, Feedback(label, predictions, uid))
        return await store.record(app.name, state_uid, selector, state, new_state)
