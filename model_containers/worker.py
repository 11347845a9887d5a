"""The model worker: runs the model on one batch at a time, off the I/O thread.

The I/O thread owns the DEALER socket and must keep heartbeating while the
model works, so batches are handed to this worker through a bounded queue and
the encoded responses come back over an inproc PAIR socket, which wakes the
I/O thread's poller as soon as a result is ready.

Result messages on the PAIR: ``[<u32 session, f64 received_at>, response
frames...]``; the I/O thread drops results of a session it has since closed.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from clipper_protocol.input_types import InputType
from clipper_protocol.rpc import (
    Frame,
    PredictionRequest,
    encode_error_output,
    encode_prediction_response,
    unpack_inputs,
)
from model_containers.metrics import ContainerMetrics
from model_containers.model import ModelContainerBase, predict_batch

logger = logging.getLogger("clipper.container")

MAX_QUEUED_BATCHES = 8
"""Batches waiting behind the running one. The frontend keeps at most one in
flight per replica, so reaching this means something is wrong; refuse more."""

_RESULT_HEADER = struct.Struct("<Id")


@dataclass(slots=True)
class BatchJob:
    """One prediction request waiting for the model."""

    session: int
    request: PredictionRequest
    received_at: float
    """``time.perf_counter()`` when the I/O thread started receiving it."""


@dataclass(slots=True)
class BatchResult:
    """A worker's answer to one job, as the I/O thread reads it."""

    session: int
    received_at: float
    frames: list[Frame]


MAX_REASON_CHARS = 1000
"""Longest failure reason sent; it is repeated once per input of the batch."""


def error_response(msg_id: int, n: int, reason: str) -> list[bytes]:
    """Response frames answering each of ``n`` inputs with the error ``reason``."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    output = encode_error_output(reason)
    return encode_prediction_response(msg_id, [output] * n)


def decode_result(frames: Sequence[Frame]) -> BatchResult:
    session, received_at = _RESULT_HEADER.unpack(frames[0])
    return BatchResult(int(session), float(received_at), list(frames[1:]))


class BatchWorker:
    """A thread that runs ``model`` on queued batches, one at a time."""

    def __init__(
        self,
        context: zmq.Context[Any],
        results_endpoint: str,
        model: ModelContainerBase,
        input_type: InputType,
        metrics: ContainerMetrics,
    ) -> None:
        self._context = context
        self._endpoint = results_endpoint
        self._model = model
        self._input_type = input_type
        self._metrics = metrics
        self._jobs: queue.Queue[BatchJob | None] = queue.Queue(MAX_QUEUED_BATCHES)
        self._thread = threading.Thread(target=self._run, name="clipper-model-worker", daemon=True)
        self.current_session = 0
        """Written by the I/O thread; jobs of older sessions are skipped."""

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: BatchJob) -> bool:
        """Queue ``job``; False when the queue is full."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def stop(self, timeout_s: float) -> bool:
        """Ask the worker to exit after its current batch; True if it did."""
        while True:
            # Make room for the sentinel: queued batches will not be answered anyway.
            try:
                self._jobs.put_nowait(None)
                break
            except queue.Full:
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    pass
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        # The worker's PAIR end belongs to this thread alone: zmq sockets are
        # not thread-safe.
        results = self._context.socket(zmq.PAIR)
        results.setsockopt(zmq.LINGER, 0)
        results.connect(self._endpoint)
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                if job.session != self.current_session:
                    logger.info("dropping batch %d of a closed session", job.request.msg_id)
                    continue
                frames = self._handle(job)
                try:
                    results.send_multipart(
                        [_RESULT_HEADER.pack(job.session, job.received_at), *frames], zmq.NOBLOCK
                    )
                except zmq.Again:
                    logger.warning("I/O thread gone; dropping the response to batch %d", job.request.msg_id)
        finally:
            results.close()

    def _handle(self, job: BatchJob) -> list[bytes]:
        request = job.request
        n = len(request.inputs)
        try:
            t0 = time.perf_counter()
            inputs = unpack_inputs(request.input_type, request.inputs)
            t1 = time.perf_counter()
            outputs = predict_batch(self._model, self._input_type, inputs, n)
            t2 = time.perf_counter()
        except Exception as e:  # noqa: BLE001 - any model failure becomes error outputs
            reason = f"{type(e).__name__}: {e}"
            logger.error("model failed on batch %d of %d inputs: %s", request.msg_id, n, reason, exc_info=True)
            return error_response(request.msg_id, n, reason)
        self._metrics.record_batch((t1 - t0) * 1000, (t2 - t1) * 1000)
        return encode_prediction_response(request.msg_id, outputs)
