"""The query path: model selection, cache, queueing, deadlines and defaults.

Every query answers by its application's SLO: with the model's output if it
arrived in time (or was cached), else with the application's default output
and an explanation. Nothing here waits longer than a query's deadline.

Apps with the original's default policy take :meth:`QueryProcessor._lookup`
(one model, no selection work). Apps with another policy
(:mod:`query_frontend.selection`) ask the models their policy selects, each
through its own cache entry and queue; an ensemble waits until the SLO at
most and combines the answers that arrived (straggler mitigation).
Feedback (:meth:`QueryProcessor.update`) asks the models the policy needs,
through the cache, and records what the policy learns.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clipper_protocol.redis_schema import ModelRecord
from query_frontend.batching import BatchSizeController, ModelQueue, SendBatch, Task
from query_frontend.cache import ModelOutput, PendingPrediction, PredictionCache
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import NoConnectedModels, Overloaded, QueryFailed, QueueFull, RequestError
from query_frontend.metrics import MetricsRegistry
from query_frontend.selection import Feedback, SelectionPolicy, Target
from query_frontend.settings import QueryFrontendSettings

if TYPE_CHECKING:
    from query_frontend.rpc import Replica

log = logging.getLogger("clipper.query_frontend.processor")


@dataclass(slots=True)
class QueryResult:
    """One query's answer, as the REST response reports it."""

    query_id: int
    output: object
    default: bool
    explanation: str | None = None


@dataclass(slots=True)
class SelectedResult(QueryResult):
    """The answer of an app with a selection policy: also which models served it.

    ``served`` lists (model, version) pairs: the one model a single-model
    policy chose (reported even when it fell back to the default), or the
    models whose answers an ensemble combined (empty when none answered).
    """

    served: tuple[tuple[str, str], ...] = ()
    ensemble: bool = False


# Feedback waits for model answers at least this long, whatever the app's SLO:
# learning from a late answer beats learning nothing.
FEEDBACK_MIN_WAIT_S = 1.0


class QueryProcessor:
    """Answers queries from the cache or the model queues, within the SLO."""

    def __init__(
        self,
        settings: QueryFrontendSettings,
        config: ClusterConfig,
        cache: PredictionCache,
        metrics: MetricsRegistry,
    ) -> None:
        self.settings = settings
        self.config = config
        self.cache = cache
        self.metrics = metrics
        self.queues: dict[tuple[str, str], ModelQueue] = {}
        self._query_ids = itertools.count()
        self.send_batch: SendBatch | None = None  # set by the server: RpcServer.send_batch
        # Feedbacks that taught the policy something, and those no model answered in time.
        self.feedback_learned = 0
        self.feedback_unanswered = 0

    # ------------------------------------------------------------ queues

    def get_queue(self, model_name: str, model_version: str) -> ModelQueue:
        """The queue of a model version, created when its first replica connects."""
        key = (model_name, model_version)
        queue = self.queues.get(key)
        if queue is None:
            rec = self.config.models.get(key)
            s = self.settings
            controller = BatchSizeController(
                fixed_batch_size=rec.batch_size if rec is not None else -1,
                increase_step=s.batch_increase_step,
                backoff=s.batch_backoff,
                latency_fraction=s.batch_latency_fraction,
                max_batch_size=s.max_batch_size,
            )
            assert self.send_batch is not None
            queue = ModelQueue(model_name, model_version, self.send_batch, controller,
                               s.max_queue_size, self.fail_entry,
                               batch_wait_max_s=s.batch_wait_max_ms / 1000,
                               batch_wait_fraction=s.batch_wait_fraction)
            self.queues[key] = queue
            self.metrics.model(model_name, model_version)
        return queue

    def model_changed(self, rec: ModelRecord) -> None:
        queue = self.queues.get((rec.model_name, rec.model_version))
        if queue is not None:
            queue.controller.fixed_batch_size = rec.batch_size

    def model_removed(self, model_name: str, model_version: str) -> None:
        queue = self.queues.pop((model_name, model_version), None)
        if queue is not None:
            queue.fail_all(NoConnectedModels())
        self.cache.clear_model(model_name, model_version)
        self.metrics.drop_model(model_name, model_version)

    # ------------------------------------------------------------ results from replicas

    def complete_task(self, task: Task, output: ModelOutput) -> None:
        self.cache.complete(task.entry, output)

    def fail_task(self, task: Task, error: BaseException) -> None:
        self.cache.fail(task.entry, error)

    def fail_entry(self, entry: PendingPrediction, error: BaseException) -> None:
        self.cache.fail(entry, error)

    def batch_done(self, replica: Replica, size: int, latency_s: float) -> None:
        queue = replica.queue
        if queue is None:
            return
        slo_s = self._batch_slo_s(replica)
        queue.controller.observe(size, latency_s, slo_s)
        self.metrics.record_batch(self.metrics.model(replica.model_name, replica.model_version),
                                  size, latency_s * 1e6)

    def _batch_slo_s(self, replica: Replica) -> float:
        # The tightest SLO among the applications that link this model.
        slos = [a.slo_s for a in self.config.apps.values() if replica.model_name in a.linked_models]
        return min(slos) if slos else self.settings.default_slo_s

    # ------------------------------------------------------------ queries

    def resolve_version(self, app: AppConfig, version: str | None) -> None:
        """Check a pinned ``version`` against the app's model (raises RequestError).

        Also refuses queries to an app whose selection policy is unusable,
        with the original's ``<policy> is an invalid selection_policy.``
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
        """Answer one query by the app's SLO.

        A pinned ``version`` bypasses the selection policy: the query goes to
        that version of the app's (single) model.
        """
        start = time.monotonic()
        deadline = start + app.slo_s
        query_id = next(self._query_ids)
        selector = app.selector
        if selector is not None and version is None:
            result = await self._predict_selected(app, selector, packed, uid, query_id, deadline)
        else:
            try:
                # Synchronous up to the wait, so a cache hit never builds a coroutine.
                found = self._lookup(app, packed, version, deadline)
                if not isinstance(found, ModelOutput):
                    found = await _wait_until(found.future, deadline)
                result = QueryResult(query_id, found.value, False)
            except QueryFailed as e:
                result = QueryResult(query_id, app.default_value, True, e.explanation)
        self.metrics.app(app.name).record((time.monotonic() - start) * 1e6, 1, int(result.default))
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
        return self._submit(model, version, packed, app.slo_s, deadline)

    def _submit(
        self, model: str, version: str, packed: bytes, slo_s: float, deadline: float
    ) -> ModelOutput | PendingPrediction:
        """A cached output, or the pending entry that will hold it (queued if new).

        Raises NoConnectedModels, QueueFull or Overloaded.
        """
        key = (model, version, packed)
        found = self.cache.get(key)
        model_metrics = self.metrics.models.get((model, version))
        self.metrics.record_cache_lookup(model_metrics, isinstance(found, ModelOutput))
        if isinstance(found, ModelOutput):
            return found
        if found is None:
            queue = self.queues.get((model, version))
            if queue is None or queue.num_replicas == 0:
                raise NoConnectedModels()
            entry = self.cache.start(key, deadline)
            if not queue.enqueue(Task(entry, packed, slo_s)):
                self.cache.fail(entry, QueueFull())
                self.metrics.shed.increment()
                if self.settings.shed_with == "503":
                    raise Overloaded(
                        f"The queue of model {model}:{version} is full "
                        f"({self.settings.max_queue_size} queries); retry later"
                    )
                raise QueueFull()
            return entry
        if deadline > found.deadline:
            found.deadline = deadline
        return found

    # ------------------------------------------------------------ selection policies

    def _resolve_targets(self, app: AppConfig, targets: Sequence[Target]) -> list[tuple[str, str]]:
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

    async def _predict_selected(
        self,
        app: AppConfig,
        selector: SelectionPolicy,  # type: ignore[type-arg]
        packed: bytes,
        uid: int,
        query_id: int,
        deadline: float,
    ) -> QueryResult:
        state = self.config.selection.state(app.name, selector.state_uid(uid), selector)
        targets = self._resolve_targets(app, selector.select(state, packed))
        if not selector.ensemble:
            if not targets:
                return SelectedResult(query_id, app.default_value, True, NoConnectedModels.explanation)
            model, version = targets[0]
            try:
                found = self._submit(model, version, packed, app.slo_s, deadline)
                output = found if isinstance(found, ModelOutput) else await _wait_until(found.future, deadline)
                value = output.value
            except QueryFailed as e:
                return SelectedResult(query_id, app.default_value, True, e.explanation, ((model, version),))
            return SelectedResult(query_id, value, False, None, ((model, version),))
        answers, explanation = await self._ask_all(targets, packed, app.slo_s, deadline)
        if not answers:
            return SelectedResult(query_id, app.default_value, True, explanation, (), True)
        by_model = {model: value for (model, _), value in answers.items()}
        combined, used = selector.combine(state, by_model)
        versions = {model: version for model, version in answers}
        return SelectedResult(query_id, combined, False, None, tuple((m, versions[m]) for m in used), True)

    async def _ask_all(
        self, targets: Sequence[tuple[str, str]], packed: bytes, slo_s: float, deadline: float
    ) -> tuple[dict[tuple[str, str], object], str]:
        """The answers of every target that answers by ``deadline`` (never later).

        Returns the answers and, for when there are none, why.
        """
        answers: dict[tuple[str, str], object] = {}
        pending: dict[tuple[str, str], asyncio.Future[ModelOutput]] = {}
        explanation = NoConnectedModels.explanation
        overloaded: Overloaded | None = None
        for target in targets:
            try:
                found = self._submit(target[0], target[1], packed, slo_s, deadline)
            except QueryFailed as e:
                explanation = e.explanation
                continue
            except Overloaded as e:
                overloaded = e
                continue
            if isinstance(found, ModelOutput):
                answers[target] = found.value
            else:
                pending[target] = found.future
        if pending:
            explanation = QueryFailed.explanation
            await _wait_all_until(list(pending.values()), deadline)
            for target, future in pending.items():
                if future.done() and not future.cancelled():
                    error = future.exception()
                    if error is None:
                        answers[target] = future.result().value
                    elif isinstance(error, QueryFailed):
                        explanation = error.explanation
        if not answers and overloaded is not None:
            raise overloaded
        # Keep the targets' order, whatever order the answers came in.
        return {t: answers[t] for t in targets if t in answers}, explanation

    async def update(self, app: AppConfig, uid: int, packed: bytes, label: float) -> bool:
        """Learn from one feedback; False if the learned state could not be saved.

        The default policy learns nothing (as the original). Otherwise the
        policy names the models whose answers it needs; they are asked
        through the cache (the query that preceded the feedback usually left
        its answers there), waiting up to the app's SLO or
        ``FEEDBACK_MIN_WAIT_S``, whichever is longer.
        """
        selector = app.selector
        if selector is None:
            return True
        store = self.config.selection
        state_uid = selector.state_uid(uid)
        state = store.state(app.name, state_uid, selector)
        targets = self._resolve_targets(app, selector.feedback_targets(state, packed))
        wait_s = max(app.slo_s, FEEDBACK_MIN_WAIT_S)
        try:
            answers, why = await self._ask_all(targets, packed, wait_s, time.monotonic() + wait_s)
        except Overloaded:
            answers, why = {}, "the models' queues are full"
        if not answers:
            self.feedback_unanswered += 1
            log.info("Feedback for %s learned nothing: no model answered (%s)", app.name, why)
            return True
        self.feedback_learned += 1
        predictions = {model: value for (model, _), value in answers.items()}
        new_state = selector.observe(state, Feedback(label, predictions, uid))
        return await store.record(app.name, state_uid, selector, state, new_state)


async def _wait_until(future: asyncio.Future[ModelOutput], deadline: float) -> ModelOutput:
    """The future's result, or QueryFailed (SLO) if it is not ready by ``deadline``."""
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        future.add_done_callback(wake)
        # Deadlines are monotonic seconds; the loop clock is monotonic too.
        timer = loop.call_at(loop.time() + (deadline - time.monotonic()), wake)
        try:
            await waiter
        finally:
            timer.cancel()
            future.remove_done_callback(wake)
        if not future.done():
            raise QueryFailed()
    return future.result()


async def _wait_all_until(futures: list[asyncio.Future[ModelOutput]], deadline: float) -> None:
    """Return when every future is done or at ``deadline``, whichever comes first."""
    remaining = sum(1 for f in futures if not f.done())
    if remaining == 0:
        return
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def one_done(_: object) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not waiter.done():
            waiter.set_result(None)

    def timeout() -> None:
        if not waiter.done():
            waiter.set_result(None)

    undone = [f for f in futures if not f.done()]
    for f in undone:
        f.add_done_callback(one_done)
    timer = loop.call_at(loop.time() + (deadline - time.monotonic()), timeout)
    try:
        await waiter
    finally:
        timer.cancel()
        for f in undone:
            f.remove_done_callback(one_done)
