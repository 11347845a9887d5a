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
    """Runs ``model`` on queued batches, one at a time, in the thread that calls :meth:`run`.

    :meth:`run` is meant for a :class:`~clipper_service.supervisor.ThreadSupervisor`:
    when it crashes (anything escaping the per-batch handling), the restarted
    run first answers the batch it had in hand with error outputs, then
    carries on with the queue. Its end of the results PAIR outlives restarts
    (an inproc PAIR does not reliably take a second connection).
    """

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
        self._thread: threading.Thread | None = None
        self._results: zmq.Socket[Any] | None = None
        self._crashed: tuple[BatchJob, str] | None = None
        """The batch in hand when the last run crashed, and why."""
        self._refused: list[BatchJob] = []
        """Batches still queued at shutdown, answered with errors before exiting."""
        self.finished = threading.Event()
        """Set once :meth:`run` has exited on :meth:`finish` (its socket closed)."""
        self.current_session = 0
        """Written by the I/O thread; jobs of older sessions are skipped."""

    def start(self) -> None:
        """Run the worker in a thread of its own, unsupervised (the runtime uses :meth:`run`)."""
        self._thread = threading.Thread(target=self.run, args=(threading.Event(),),
                                        name="clipper-model-worker", daemon=True)
        self._thread.start()

    def submit(self, job: BatchJob) -> bool:
        """Queue ``job``; False when the queue is full."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def take_queued(self) -> list[BatchJob]:
        """Remove and return the batches waiting behind the one in hand."""
        taken: list[BatchJob] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return taken
            if job is not None:
                taken.append(job)

    def finish(self, timeout_s: float) -> bool:
        """Let the worker finish its batch in hand, answer queued ones with errors, and exit.

        True if it did within ``timeout_s``. New batches must no longer be
        submitted (the I/O loop refuses them while draining, and answers
        those it queued before; this answers any left, e.g. with the I/O
        loop down).
        """
        self._refused = self.take_queued()
        while True:
            try:
                self._jobs.put_nowait(None)
                break
            except queue.Full:  # a batch submitted meanwhile: it will not be answered
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    pass
        return self.finished.wait(timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Ask the worker to exit after its current batch; True if it did (see :meth:`finish`)."""
        done = self.finish(timeout_s)
        if done and self._thread is not None:
            self._thread.join(timeout_s)
        return done

    def run(self, stop: threading.Event) -> None:
        """Serve the queue until :meth:`finish`; ``stop`` (the supervisor's) is not polled."""
        # The worker's PAIR end belongs to this thread alone: zmq sockets are
        # not thread-safe.
        if self._results is None:
            self._results = self._context.socket(zmq.PAIR)
            self._results.setsockopt(zmq.LINGER, 0)
            self._results.connect(self._endpoint)
        results = self._results
        if self._crashed is not None:
            (lost, reason), self._crashed = self._crashed, None
            if lost.session == self.current_session:
                self._send(results, lost, error_response(lost.request.msg_id, len(lost.request.inputs), reason))
        job: BatchJob | None = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    break
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
                job = None
        except BaseException as e:
            if job is not None:
                self._crashed = (job, f"model worker crashed: {type(e).__name__}: {e}")
            raise
        for left in self._refused:
            self._send(results, left, error_response(left.request.msg_id, len(left.request.inputs),
                                                     "container shutting down"))
        self._results = None
        results.close()
        self.finished.set()

    def _send(self, results: zmq.Socket[Any], job: BatchJob, frames: list[bytes]) -> None:
        try:
            results.send_multipart([_RESULT_HEADER.pack(job.session, job.received_at), *frames], zmq.NOBLOCK)
        except zmq.Again:
            logger.warning("I/O thread gone; dropping the response to batch %d", job.request.msg_id)

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
