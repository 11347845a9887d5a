"""The query path end to end: REST in, ZeroMQ frames out to a container, JSON back."""

from __future__ import annotations

import asyncio
import time

from clipper_protocol.constants import NO_CONNECTED_MODELS_EXPLANATION, SLO_EXCEEDED_EXPLANATION
from tests.query_frontend.conftest import RunningFrontend, eventually


async def _setup_app(qf: RunningFrontend, cluster_state, app="app", model="m", slo=100000, **kw) -> None:
    cluster_state.add_app(app, slo_micros=slo, **kw)
    cluster_state.add_model(model, "1")
    cluster_state.link(app, model)
    await qf.wait_app(app, lambda a: a.linked_models == [model])


async def test_prediction_round_trip(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    c = qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    status, body = await qf.predict("app", {"input": [1.5, 2.5, 3.0]})
    assert status == 200
    assert body == {"query_id": body["query_id"], "output": 7.0, "default": False}
    assert list(body) == ["query_id", "output", "default"]
    assert c.batches[0][0] == b"".join(__import__("struct").pack("<d", x) for x in (1.5, 2.5, 3.0))


async def test_replica_is_recorded_in_redis(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    await eventually(lambda: "m,1,0" in cluster_state.containers(), what="DB 3 record")
    rec = cluster_state.containers()["m,1,0"]
    assert rec["model_id"] == "m:1" and rec["model_replica_id"] == "0" and rec["input_type"] == "doubles"
    assert cluster_state.state("app") == '{"y_hat": "DEFAULT"}'


async def test_batch_input_and_single_element_batch(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    status, body = await qf.predict("app", {"input_batch": [[1.0], [2.0, 3.0], [4.0]]})
    assert status == 200
    assert [p["output"] for p in body["batch_predictions"]] == [1.0, 5.0, 4.0]
    status, body = await qf.predict("app", {"input_batch": [[9.0]]})
    assert body["output"] == 9.0 and "batch_predictions" not in body
    status, body = await qf.predict("app", {"input_batch": []})
    assert status == 200 and body == {"batch_predictions": []}


async def test_unlinked_app_answers_default_at_once(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("lonely", default_output="-1.0", slo_micros=2_000_000)
    await qf.wait_app("lonely")
    start = time.monotonic()
    status, body = await qf.predict("lonely", {"input": [1.0]})
    assert time.monotonic() - start < 0.5
    assert status == 200
    assert body["output"] == -1.0 and body["default"] is True
    assert body["default_explanation"] == NO_CONNECTED_MODELS_EXPLANATION


async def test_slow_model_gets_default_by_slo(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=100_000)
    qf.container("m", delay_s=0.5)
    await qf.wait_replicas("m", "1", 1)
    start = time.monotonic()
    status, body = await qf.predict("app", {"input": [1.0]})
    elapsed = time.monotonic() - start
    assert status == 200 and body["default"] is True
    assert body["output"] == "DEFAULT"
    assert body["default_explanation"] == SLO_EXCEEDED_EXPLANATION
    assert 0.09 <= elapsed < 0.3


async def test_hung_model_never_holds_a_query_past_its_slo(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=50_000)
    qf.container("m", behaviour=lambda inputs: None)
    await qf.wait_replicas("m", "1", 1)
    start = time.monotonic()
    results = await asyncio.gather(*(qf.predict("app", {"input": [float(i)]}) for i in range(20)))
    assert time.monotonic() - start < 0.5
    assert all(body["default"] for _, body in results)


async def test_model_errors_become_defaults_and_replica_keeps_serving(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=1_000_000)
    error = b"\x00clipper-error\x00ZeroDivisionError: boom"
    calls = {"n": 0}

    def flaky(inputs):
        calls["n"] += 1
        return [error] * len(inputs) if calls["n"] == 1 else [b"ok"] * len(inputs)

    qf.container("m", behaviour=flaky)
    await qf.wait_replicas("m", "1", 1)
    start = time.monotonic()
    status, body = await qf.predict("app", {"input": [1.0]})
    assert time.monotonic() - start < 0.5, "a failed output answers at once, not at the SLO"
    assert body["default"] is True
    assert body["default_explanation"] == "The model failed to produce an output for this input: ZeroDivisionError: boom"
    # Failures are not cached: the same input asks the model again.
    status, body = await qf.predict("app", {"input": [1.0]})
    assert body == {"query_id": body["query_id"], "output": "ok", "default": False}


async def test_wrong_number_of_outputs_gives_defaults(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=1_000_000)
    qf.container("m", behaviour=lambda inputs: [b"1"] * (len(inputs) + 1))
    await qf.wait_replicas("m", "1", 1)
    status, body = await qf.predict("app", {"input": [1.0]})
    assert body["default"] is True


async def test_cache_hits_skip_the_model(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    c = qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    for _ in range(5):
        status, body = await qf.predict("app", {"input": [2.0, 2.0]})
        assert body["output"] == 4.0
    assert sum(len(b) for b in c.batches) == 1
    m = qf.frontend.metrics
    assert m.cache_lookups == 5 and m.cache_hits == 4


async def test_identical_inflight_queries_share_one_evaluation(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=2_000_000)
    c = qf.container("m", delay_s=0.2)
    await qf.wait_replicas("m", "1", 1)
    results = await asyncio.gather(*(qf.predict("app", {"input": [3.0]}) for _ in range(10)))
    assert all(body["output"] == 3.0 and not body["default"] for _, body in results)
    assert sum(len(b) for b in c.batches) == 1


async def test_adaptive_batching_groups_queued_queries(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=2_000_000)
    c = qf.container("m", delay_s=0.02)
    await qf.wait_replicas("m", "1", 1)
    for _round in range(8):
        await asyncio.gather(*(qf.predict("app", {"input": [float(_round * 100 + i)]}) for i in range(40)))
    sizes = [len(b) for b in c.batches]
    assert max(sizes) >= 4, sizes
    assert qf.frontend.processor.queues[("m", "1")].controller.batch_size() >= 4


async def test_fixed_batch_size_is_respected(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("app", slo_micros=5_000_000)
    cluster_state.add_model("m", "1", batch_size=3)
    cluster_state.link("app", "m")
    await qf.wait_app("app", lambda a: a.linked_models == ["m"])
    c = qf.container("m", delay_s=0.05)
    await qf.wait_replicas("m", "1", 1)
    await asyncio.gather(*(qf.predict("app", {"input": [float(i)]}) for i in range(30)))
    assert max(len(b) for b in c.batches) == 3


async def test_replicas_share_the_load(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=2_000_000)
    a = qf.container("m", delay_s=0.01)
    b = qf.container("m", delay_s=0.01)
    await qf.wait_replicas("m", "1", 2)
    await asyncio.gather(*(qf.predict("app", {"input": [float(i)]}) for i in range(100)))
    assert a.batches and b.batches


async def test_killed_replica_under_load(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=200_000)
    survivor = qf.container("m", delay_s=0.005)
    doomed = qf.container("m", delay_s=0.005)
    await qf.wait_replicas("m", "1", 2)

    async def load() -> list[tuple[float, dict]]:
        out = []
        for i in range(150):
            start = time.monotonic()
            _, body = await qf.predict("app", {"input": [float(i), 0.5]})
            out.append((time.monotonic() - start, body))
        return out

    task = asyncio.gather(*(load() for _ in range(4)))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(doomed.stop)
    results = [r for group in await task for r in group]
    assert max(lat for lat, _ in results) < 0.2 + 0.1
    await qf.wait_replicas("m", "1", 1, timeout=2)
    assert survivor.batches
    # After the replica is gone everything is served by the survivor.
    _, body = await qf.predict("app", {"input": [123.0]})
    assert body["default"] is False


async def test_version_switch_and_rollback(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=1_000_000)
    qf.container("m", "1", behaviour=lambda xs: [b"1"] * len(xs))
    cluster_state.add_model("m", "2")
    cluster_state.set_version("m", "1")
    qf.container("m", "2", behaviour=lambda xs: [b"2"] * len(xs))
    await qf.wait_replicas("m", "1", 1)
    await qf.wait_replicas("m", "2", 1)
    _, body = await qf.predict("app", {"input": [1.0]})
    assert body["output"] == 1
    cluster_state.set_version("m", "2")
    await eventually(lambda: qf.frontend.config.current_versions.get("m") == "2", what="version 2")
    _, body = await qf.predict("app", {"input": [1.0]})
    assert body["output"] == 2
    # Pinned version.
    _, body = await qf.predict("app", {"input": [1.0]}, version="1")
    assert body["output"] == 1 and body["default"] is False
    status, body = await qf.predict("app", {"input": [1.0]}, version="9")
    assert status == 400
    assert body == {"error": "Query processing error", "cause": "Requested version: 9 does not exist for model: m"}
    cluster_state.set_version("m", "1")
    await eventually(lambda: qf.frontend.config.current_versions.get("m") == "1", what="rollback")
    _, body = await qf.predict("app", {"input": [1.0]})
    assert body["output"] == 1


async def test_version_switch_under_load_loses_nothing(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=500_000)
    qf.container("m", "1", behaviour=lambda xs: [b"1"] * len(xs))
    cluster_state.add_model("m", "2")
    cluster_state.set_version("m", "1")
    qf.container("m", "2", behaviour=lambda xs: [b"2"] * len(xs))
    await qf.wait_replicas("m", "2", 1)
    await qf.wait_replicas("m", "1", 1)

    loop = asyncio.get_running_loop()

    async def load() -> list[tuple[float, float, dict]]:
        """Sequential queries, (sent at, answered at, body) each: at least 100, and on until version 2 answers.

        (Bounded: how soon the switch is seen depends on the machine's load, not on a fixed count.)
        """
        out = []
        for i in range(5000):
            sent = loop.time()
            _, body = await qf.predict("app", {"input": [float(i)]})
            out.append((sent, loop.time(), body))
            if i >= 100 and body["output"] == 2:
                break
        return out

    task = asyncio.gather(*(load() for _ in range(4)))
    await asyncio.sleep(0.1)
    cluster_state.set_version("m", "2")
    groups = await task
    records = [r for group in groups for r in group]
    assert not any(body["default"] for _, _, body in records)
    outputs = [body["output"] for _, _, body in records]
    assert 1 in outputs and 2 in outputs
    # Once the switch is seen, no query goes back to version 1: in each client's
    # sequence the outputs are 1s then 2s, and every query sent after any client
    # got a 2 is answered by version 2.
    for group in groups:
        seq = [body["output"] for _, _, body in group]
        switch = seq.index(2) if 2 in seq else len(seq)
        assert seq[switch:] == [2] * (len(seq) - switch), f"a client went back to version 1: {seq}"
    first_two_seen = min(done for _, done, body in records if body["output"] == 2)
    back = [(round(sent - first_two_seen, 4), body) for sent, _, body in records
            if sent > first_two_seen and body["output"] != 2]
    assert not back, f"queries sent after version 2 first answered went to version 1: {back[:5]}"


async def test_app_and_link_changes_followed_live(qf: RunningFrontend, cluster_state) -> None:
    status, body = await qf.predict("late", {"input": [1.0]})
    assert status == 404 and body["error"] == "Application not found"
    cluster_state.add_app("late")
    await qf.wait_app("late")
    status, body = await qf.predict("late", {"input": [1.0]})
    assert status == 200 and body["default"] is True
    cluster_state.add_model("m", "1")
    qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    cluster_state.link("late", "m")
    await qf.wait_app("late", lambda a: a.linked_models == ["m"])
    _, body = await qf.predict("late", {"input": [1.0]})
    assert body["default"] is False
    cluster_state.delete_app("late")
    await eventually(lambda: "late" not in qf.frontend.config.apps, what="app deletion")
    status, _ = await qf.predict("late", {"input": [1.0]})
    assert status == 404


async def test_deleted_model_version_is_finalized(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    await eventually(lambda: "m,1,0" in cluster_state.containers(), what="replica record")
    cluster_state.delete_model_version("m", "1")
    await eventually(lambda: ("m", "1") not in qf.frontend.processor.queues, what="queue removal")
    await eventually(lambda: not cluster_state.containers(), what="DB 3 cleanup")


async def test_containers_of_deleted_versions_do_not_come_back(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state)
    c = qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    cluster_state.delete_model_version("m", "1")
    await eventually(lambda: ("m", "1") not in qf.frontend.processor.queues, what="queue removal")
    n_frames = len(c.received_frames)
    await eventually(lambda: len(c.received_frames) > n_frames + 3, what="more heartbeats answered")
    assert ("m", "1") not in qf.frontend.processor.queues
    assert not qf.frontend.rpc.replicas


async def test_a_wrong_output_count_says_so_in_the_explanation(qf: RunningFrontend, cluster_state) -> None:
    await _setup_app(qf, cluster_state, slo=1_000_000)
    qf.container("m", behaviour=lambda xs: [b"1"] * (len(xs) + 1))
    await qf.wait_replicas("m", "1", 1)
    _, body = await qf.predict("app", {"input": [1.0]})
    assert body["default"] is True
    assert body["default_explanation"] == ("The model failed to produce an output for this input: the replica "
                                           "returned 2 output(s) for a batch of 1 input(s)")


def test_model_failure_causes_are_one_short_printable_line() -> None:
    from query_frontend.errors import MAX_CAUSE_CHARS, ModelFailed

    long = ModelFailed("\n  KeyError: 'x'\x07 " + "y" * 500 + "\nTraceback ...")
    assert long.explanation.startswith("The model failed to produce an output for this input: KeyError: 'x'? yyy")
    assert len(long.explanation) == len("The model failed to produce an output for this input: ") + MAX_CAUSE_CHARS
    assert "Traceback" not in long.explanation and long.explanation.endswith("...")
    assert ModelFailed().explanation == "The model failed to produce an output for this input"
