"""The query path: model selection, cache, queueing, deadlines and defaults.

Every query answers by its application's SLO: with the model's output if it
arrived in time (or was cached), else with the application's default output
and an explanation. Nothing here waits longer than a query's deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clipper_protocol.redis_schema import ModelRecord
from query_frontend.batching import BatchSizeController, ModelQueue, SendBatch, Task
from query_frontend.cache import ModelOutput, PendingPrediction, PredictionCache
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import NoConnectedModels, Overloaded, QueryFailed, QueueFull, RequestError
from query_frontend.metrics import MetricsRegistry
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
                               s.max_queue_size, self.fail_entry)
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
        """Check a pinned ``version`` against the app's model (raises RequestError)."""
        if version is None:
            return
        if not app.linked_models:
            raise RequestError(f"No model is linked to application {app.name}", "Query processing error")
        if len(app.linked_models) > 1:
            raise RequestError(f"Too many models linked to application {app.name}", "Query processing error")
        model = app.linked_models[0]
        if not self.config.has_version(model, version):
            raise RequestError(
                f"Requested version: {version} does not exist for model: {model}",
                "Query processing error",
            )

    async def predict(self, app: AppConfig, packed: bytes, version: str | None) -> QueryResult:
        """Answer one query by the app's SLO."""
        start = time.monotonic()
        deadline = start + app.slo_s
        query_id = next(self._query_ids)
        try:
            output = await self._evaluate(app, packed, version, deadline)
            result = QueryResult(query_id, output.value, False)
        except QueryFailed as e:
            result = QueryResult(query_id, app.default_value, True, e.explanation)
        self.metrics.app(app.name).record((time.monotonic() - start) * 1e6, 1, int(result.default))
        return result

    async def predict_batch(self, app: AppConfig, inputs: list[bytes], version: str | None) -> list[QueryResult]:
        return list(await asyncio.gather(*(self.predict(app, x, version) for x in inputs)))

    async def _evaluate(self, app: AppConfig, packed: bytes, version: str | None, deadline: float) -> ModelOutput:
        if not app.linked_models:
            raise NoConnectedModels()
        model = app.linked_models[0]
        if version is None:
            version = self.config.current_versions.get(model)
            if version is None:
                raise NoConnectedModels()
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
            if not queue.enqueue(Task(entry, packed, app.slo_s)):
                self.cache.fail(entry, QueueFull())
                self.metrics.shed.increment()
                if self.settings.shed_with == "503":
                    raise Overloaded(
                        f"The queue of model {model}:{version} is full "
                        f"({self.settings.max_queue_size} queries); retry later"
                    )
                raise QueueFull()
        else:
            entry = found
            if deadline > entry.deadline:
                entry.deadline = deadline
        return await _wait_until(entry.future, deadline)


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
