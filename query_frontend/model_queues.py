"""The queue registry: one :class:`ModelQueue` per model version with replicas.

A queue is created when the first replica of its model version connects and
dropped when the version is deleted. :meth:`ModelQueues.submit` is where a
query meets the cache and the queue: a cached output, the pending entry an
identical query already started, or a new entry queued for the next batch.
:meth:`ModelQueues.batch_answered` closes the loop for the RPC side: the
batch-size controller, the model's metrics and the queue's drain rate learn
from the batch, and the replica takes the next one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from clipper_protocol.redis_schema import ModelRecord
from query_frontend.batching import BatchSizeController, ModelQueue, Task
from query_frontend.cache import ModelOutput, PendingPrediction, PredictionCache
from query_frontend.config import ClusterConfig
from query_frontend.errors import NoConnectedModels, Overloaded, QueueFull
from query_frontend.metrics import MetricsRegistry
from query_frontend.replicas import Replica
from query_frontend.settings import QueryFrontendSettings

QueueKey = tuple[str, str]
"""(model name, model version)."""


class ModelQueues(Mapping[QueueKey, ModelQueue]):
    """Every model version's queue, by (model, version)."""

    def __init__(
        self, settings: QueryFrontendSettings, config: ClusterConfig, cache: PredictionCache, metrics: MetricsRegistry
    ) -> None:
        self.settings = settings
        self.config = config
        self.cache = cache
        self.metrics = metrics
        self._queues: dict[QueueKey, ModelQueue] = {}
        self._shed_with_503 = settings.shed_with == "503"

    def __getitem__(self, key: QueueKey) -> ModelQueue:
        return self._queues[key]

    def __iter__(self) -> Iterator[QueueKey]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)

    def queue_for(self, model_name: str, model_version: str) -> ModelQueue:
        """The queue of a model version, created when its first replica connects."""
        key = (model_name, model_version)
        queue = self._queues.get(key)
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
            queue = ModelQueue(model_name, model_version, Replica.send_batch, controller, s.max_queue_size,
                               self.cache.fail, batch_wait_max_s=s.batch_wait_max_ms / 1000,
                               batch_wait_fraction=s.batch_wait_fraction)
            self._queues[key] = queue
            self.metrics.model(model_name, model_version)
        return queue

    def model_changed(self, rec: ModelRecord) -> None:
        queue = self._queues.get((rec.model_name, rec.model_version))
        if queue is not None:
            queue.controller.fixed_batch_size = rec.batch_size

    def model_removed(self, model_name: str, model_version: str) -> None:
        queue = self._queues.pop((model_name, model_version), None)
        if queue is not None:
            queue.fail_all(NoConnectedModels())
        self.cache.clear_model(model_name, model_version)
        self.metrics.drop_model(model_name, model_version)

    def submit(
        self, model: str, version: str, packed: bytes, slo_s: float, deadline: float
    ) -> ModelOutput | PendingPrediction:
        """A cached output, or the pending entry that will hold it (queued if new).

        Raises NoConnectedModels, QueueFull or Overloaded.
        """
        key = (model, version, packed)
        found = self.cache.get(key)
        self.metrics.record_cache_lookup(self.metrics.models.get((model, version)), isinstance(found, ModelOutput))
        if isinstance(found, ModelOutput):
            return found
        if found is None:
            queue = self._queues.get((model, version))
            if queue is None or queue.num_replicas == 0:
                raise NoConnectedModels()
            entry = self.cache.start(key, deadline)
            if not queue.enqueue(Task(entry, packed, slo_s)):
                self.cache.fail(entry, QueueFull())
                self.metrics.shed.increment()
                if self._shed_with_503:
                    raise Overloaded(
                        f"The queue of model {model}:{version} is full "
                        f"({self.settings.max_queue_size} queries); retry later",
                        queue.drain_rate.retry_after_s(len(queue)),
                    )
                raise QueueFull()
            return entry
        if deadline > found.deadline:
            found.deadline = deadline
        return found

    def batch_answered(self, replica: Replica, size: int, latency_s: float, failures: int = 0) -> None:
        """``replica`` answered a batch of ``size`` after ``latency_s`` (``failures`` inputs with errors);
        it can take the next one."""
        queue = replica.queue
        if queue is None:
            return
        queue.controller.observe(size, latency_s, self._batch_slo_s(replica.model_name))
        queue.drain_rate.completed(size, latency_s)
        self.metrics.record_batch(self.metrics.model(replica.model_name, replica.model_version),
                                  size, failures, latency_s * 1e6)
        queue.replica_idle(replica)

    def _batch_slo_s(self, model_name: str) -> float:
        # The tightest SLO among the applications that link this model.
        slos = [a.slo_s for a in self.config.apps.values() if model_name in a.linked_models]
        return min(slos) if slos else self.settings.default_slo_s
