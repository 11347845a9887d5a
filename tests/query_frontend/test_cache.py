"""The prediction cache on its own: byte-bounded LRU, shared pending entries, and a heap the collector skips."""

from __future__ import annotations

import gc

import pytest

from query_frontend.cache import ModelOutput, PendingPrediction, PredictionCache


def _fill(cache: PredictionCache, n: int, model: str = "m", value: object = 1.5) -> None:
    for i in range(n):
        entry = cache.start((model, "1", i.to_bytes(8, "little")), deadline=0.0)
        cache.complete(entry, ModelOutput(b"1.5", value))


async def test_a_hit_returns_the_output_and_refreshes_its_recency() -> None:
    cache = PredictionCache(capacity_bytes=3 * (8 + 3 + 200))
    _fill(cache, 3)
    first = cache.get(("m", "1", (0).to_bytes(8, "little")))
    assert isinstance(first, ModelOutput) and first.raw == b"1.5" and first.value == 1.5
    _fill(cache, 4)  # keys 0..3: key 3 is new and evicts the least recently used, key 1
    assert cache.get(("m", "1", (1).to_bytes(8, "little"))) is None
    assert isinstance(cache.get(("m", "1", (0).to_bytes(8, "little"))), ModelOutput)
    assert len(cache) == 3 and cache.size_bytes <= cache.capacity_bytes


async def test_identical_queries_share_one_pending_entry_and_failures_are_not_kept() -> None:
    cache = PredictionCache(1 << 20)
    key = ("m", "1", b"x")
    entry = cache.start(key, deadline=1.0)
    assert cache.get(key) is entry and isinstance(entry, PendingPrediction)
    cache.fail(entry, RuntimeError("model failed"))
    with pytest.raises(RuntimeError):
        entry.future.result()
    assert cache.get(key) is None and cache.pending_count == 0


async def test_completed_outputs_of_numbers_and_strings_are_invisible_to_the_collector() -> None:
    cache = PredictionCache(1 << 22)
    _fill(cache, 2000)
    _fill(cache, 10, model="words", value="a string output")
    gc.collect()
    held = list(cache._completed.items())
    assert len(held) == 2010
    # Neither keys nor held outputs are tracked: a full collection does not walk them one by one.
    assert not any(gc.is_tracked(k) or gc.is_tracked(v) for k, v in held)


async def test_clear_model_drops_only_that_version() -> None:
    cache = PredictionCache(1 << 20)
    _fill(cache, 5, model="a")
    _fill(cache, 5, model="b")
    cache.clear_model("a", "1")
    assert len(cache) == 5 and cache.get(("b", "1", (0).to_bytes(8, "little"))) is not None
    assert cache.size_bytes == 5 * (8 + 3 + 200)

