"""The query path: every query answers by its application's SLO.

With the model's output if it arrived in time (or was cached), else with the
application's default output and an explanation. Apps with the original's
default policy take :meth:`QueryProcessor._lookup` (one model, no selection
work, no coroutine beyond the query's own on a cache hit); apps with another
policy go through :class:`query_frontend.selection_queries.SelectionQueries`.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from query_frontend.cache import ModelOutput, PendingPrediction
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import NoConnectedModels, QueryFailed, RequestError
from query_frontend.metrics import MetricsRegistry
from query_frontend.model_queues import ModelQueues
from query_frontend.monitoring.recorder import Recorder
from query_frontend.results import QueryResult
from query_frontend.selection_queries import SelectionQueries
from query_frontend.waiting import wait_until


class QueryProcessor:
    """Answers queries from the cache or the model queues, within the SLO."""

    def __init__(
        self, config: ClusterConfig, queues: ModelQueues, selection: SelectionQueries, metrics: MetricsRegistry,
        recorder: Recorder | None = None,
    ) -> None:
        self.config = config
        self.queues = queues
        self.selection = selection
        self.metrics = metrics
        self.recorder = recorder
        """Statistical monitoring's sampler (None with the setting ``monitoring`` off)."""
        self._query_ids = itertools.count()

    def check(self, app: AppConfig, version: str | None = None) -> None:
        """Refuse (RequestError) a query or feedback the app cannot take, before any work.

        An app whose selection policy is unusable answers the original's
        ``<policy> is an invalid selection_policy.``; a pinned ``version``
        must exist for the app's (single) model.
        """
        if app.selection_error is not None:
            raise RequestError(app.selection_error, "Query processing error")
        if version is None:
            return
        if not app.linked_models:
            raise RequestError(f"No model is linked to application {app.name}", "Query processing error")
        if len(app.linked_models) > 1:
            raise RequestError(f"Too many models linked to application {app.name}", "Query processing error")
        model = app.linked_models[0]
        if not self.config.has_version(model, version):
            raise RequestError(
                # Clipped: error bodies must not echo arbitrary client payloads.
                f"Requested version: {version[:64]} does not exist for model: {model}",
                "Query processing error",
            )

    async def predict(self, app: AppConfig, packed: bytes, version: str | None, uid: int = 0) -> QueryResult:
        """Answer one query by the app's SLO (raises Overloaded when shedding with 503).

        A pinned ``version`` bypasses the selection policy: the query goes to
        that version of the app's (single) model.
        """
        start = time.monotonic()
        deadline = start + app.slo_s
        query_id = next(self._query_ids)
        selector = app.selector
        if selector is not None and version is None:
            result = await self.selection.predict(app, selector, packed, uid, query_id, deadline)
        else:
            try:
                # Synchronous up to the wait, so a cache hit never builds a coroutine.
                found = self._lookup(app, packed, version, deadline)
                if not isinstance(found, ModelOutput):
                    found = await wait_until(found.future, deadline)
                result = QueryResult(query_id, found.value, False)
            except QueryFailed as e:
                result = QueryResult(query_id, app.default_value, True, e.explanation, reason=e.reason)
        self.metrics.app(app.name).record((time.monotonic() - start) * 1e6, result.reason)
        if self.recorder is not None:
            self.recorder.observe(app, packed, version, result)
        return result

    async def predict_batch(
        self, app: AppConfig, inputs: list[bytes], version: str | None, uid: int = 0
    ) -> list[QueryResult]:
        return list(await asyncio.gather(*(self.predict(app, x, version, uid) for x in inputs)))

    def _lookup(
        self, app: AppConfig, packed: bytes, version: str | None, deadline: float
    ) -> ModelOutput | PendingPrediction:
        """The default policy: the app's one model, at ``version`` or its current one."""
        if not app.linked_models:
            raise NoConnectedModels()
        model = app.linked_models[0]
        if version is None:
            version = self.config.current_versions.get(model)
            if version is None:
                raise NoConnectedModels()
        return self.queues.submit(model, version, packed, app.slo_s, deadline)

    async def update(self, app: AppConfig, uid: int, packed: bytes, label: float) -> bool:
        """Learn from one feedback; False if the learned state could not be saved.

        The default policy learns nothing (as the original). Monitoring then
        attributes the label to the answers the cache holds for the input.
        """
        selector = app.selector
        saved = True if selector is None else await self.selection.update(app, selector, uid, packed, label)
        if self.recorder is not None:
            self.recorder.feedback(app, packed, label)
        return saved
