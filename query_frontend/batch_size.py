"""The adaptive batch size of a model version (Clipper paper, 4.3)."""

from __future__ import annotations


class BatchSizeController:
    """Additive-increase / multiplicative-decrease batch size (Clipper paper, 4.3).

    The limit grows by ``increase_step`` after every full batch whose latency
    stayed within the target, and is cut by ``backoff`` after a batch that took
    longer. The target is ``latency_fraction`` of the tightest SLO in the
    batch: a query may wait for the batch in progress before its own runs.
    A model registered with a fixed ``batch_size`` always gets that size.
    """

    def __init__(
        self,
        fixed_batch_size: int = -1,
        increase_step: float = 1.0,
        backoff: float = 0.9,
        latency_fraction: float = 0.5,
        max_batch_size: int = 4096,
    ) -> None:
        self.fixed_batch_size = fixed_batch_size
        self.increase_step = increase_step
        self.backoff = backoff
        self.latency_fraction = latency_fraction
        self.max_batch_size = max_batch_size
        self.limit = 1.0
        self.last_size = 0
        """Size of the last batch answered."""
        self.latency_ewma_s = 0.0
        """Smoothed latency of the model's batches (for delayed batching)."""

    def batch_size(self) -> int:
        if self.fixed_batch_size > 0:
            return self.fixed_batch_size
        return max(1, int(self.limit))

    def observe(self, size: int, latency_s: float, slo_s: float) -> None:
        self.last_size = size
        ewma = self.latency_ewma_s
        self.latency_ewma_s = latency_s if ewma == 0.0 else ewma + 0.2 * (latency_s - ewma)
        if self.fixed_batch_size > 0:
            return
        target = slo_s * self.latency_fraction
        if latency_s > target:
            self.limit = max(1.0, min(self.limit, float(size)) * self.backoff)
        elif size >= int(self.limit):
            self.limit = min(float(self.max_batch_size), self.limit + self.increase_step)
