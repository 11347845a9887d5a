"""The container's I/O thread: the DEALER socket, sessions and heartbeats.

Lifecycle of a session (the original's, with heartbeats on a clock):

1. Open a DEALER (new ZeroMQ identity) and connect it to the frontend.
2. Every heartbeat interval, send a heartbeat, whatever the model is doing.
3. Answer every frontend heartbeat of type 1 with the new-container message
   (the frontend asks whenever it does not know this identity: first contact,
   after its own restart, or as a liveness probe); with a registration
   secret, the message carries a proof over the heartbeat's nonce.
4. Hand prediction requests to the model worker; forward its responses.
5. Once the frontend has been heard from, if it then stays silent for the
   activity timeout, close the socket and go back to 1.

Shutdown is ordered (see ``RPCService``): once the service's stop event is
set the loop *drains*: it answers new prediction requests at once with an
error output ("container shutting down") and keeps heartbeating and
forwarding the model's answers, until the supervisor's stop event; then it
forwards the last answers, keeps refusing for a short grace (the frontend
sends the next batch the moment the last answer arrives: refused, it goes
to another replica, and the frontend stops sending here; unread, it would be
lost with the socket) and closes the DEALER, lingering briefly so the
answers leave. Run under a ``ThreadSupervisor``, a crashed run is restarted with a
new session (a fresh socket: the frontend re-registers the container).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq

from clipper_protocol.rpc import (
    Frame,
    FrontendHeartbeat,
    HeartbeatType,
    NewContainer,
    PredictionRequest,
    SHUTTING_DOWN_REASON,
    RpcProtocolError,
    decode_frontend_message,
    encode_container_heartbeat,
    encode_new_container,
    encode_prediction_response,
    registration_proof,
)
from model_containers.metrics import ContainerMetrics
from model_containers.settings import ContainerSettings
from model_containers.worker import BatchJob, BatchWorker, decode_result, error_response

logger = logging.getLogger("clipper.container")

STOP_CHECK_MS = 100
"""Longest poll, so ``stop()`` from another thread is noticed promptly."""
HEARTBEAT_RETRY_MS = 100
"""Retry delay for a heartbeat that could not be sent (no connection yet)."""
MAX_MESSAGES_PER_WAKEUP = 64
"""Bound on messages read per socket per loop turn, so heartbeats stay on time."""
FINAL_LINGER_MS = 1000
"""How long the last answers may take to leave when the container stops."""
SHUTTING_DOWN = SHUTTING_DOWN_REASON
LAST_BATCH_GRACE_S = 0.25
"""After the last answer, how long a stopping container still reads (and refuses) batches."""


class ContainerIOLoop:
    """Runs in the thread that calls :meth:`run`; owns the DEALER socket."""

    def __init__(
        self,
        context: zmq.Context[Any],
        settings: ContainerSettings,
        address: str,
        results: zmq.Socket[Any],
        worker: BatchWorker,
        metrics: ContainerMetrics,
        stop_event: threading.Event,
    ) -> None:
        self._context = context
        self._settings = settings
        self._endpoint = f"tcp://{address}:{settings.port}"
        self._results = results
        self._worker = worker
        self._metrics = metrics
        self._stop = stop_event
        self._new_container = encode_new_container(
            NewContainer(settings.model_name, settings.model_version, settings.input_type)
        )
        self._heartbeat = encode_container_heartbeat()
        self._poller = zmq.Poller()
        self._poller.register(results, zmq.POLLIN)
        self._socket: zmq.Socket[Any] | None = None
        self._session = 0
        self._connected = False
        self._announced = False
        self._last_activity = 0.0
        self._on_request: Callable[[PredictionRequest, float], None] = self._dispatch
        """Swapped for :meth:`_refuse` while draining (no per-batch test)."""
        self._refused = 0
        """Batches refused while stopping."""
        self.draining = threading.Event()
        """Set once the loop refuses new batches (after the stop event)."""

    def run(self, stopping: threading.Event | None = None) -> None:
        """Serve until the stop event is set; closes the DEALER on the way out.

        With ``stopping`` (the supervisor's stop event), drain from the stop
        event until ``stopping``, then forward the last answers before closing.
        """
        interval = self._settings.heartbeat_interval_ms / 1000
        activity_timeout = self._settings.activity_timeout_ms / 1000
        phases = (self._stop,) if stopping is None else (self._stop, stopping)
        self._open_session()
        next_heartbeat = time.monotonic()
        try:
            for until in phases:
                if until is stopping:
                    self._begin_draining()
                next_heartbeat = self._serve(until, next_heartbeat, interval, activity_timeout)
            if stopping is not None:
                self._forward_results()
                self._refuse_late_batches(LAST_BATCH_GRACE_S)
                self._close_session(linger_ms=FINAL_LINGER_MS)
        finally:
            self._close_session()

    def _serve(self, until: threading.Event, next_heartbeat: float, interval: float, activity_timeout: float) -> float:
        """Loop turns until ``until`` is set; returns when the next heartbeat is due."""
        while not until.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                if self._connected and now - self._last_activity >= activity_timeout:
                    logger.warning(
                        "no message from the frontend for %.1f s; opening a new session",
                        now - self._last_activity,
                    )
                    self._close_session()
                    self._open_session()
                sent = self._send(self._heartbeat, "heartbeat")
                next_heartbeat = now + (interval if sent else min(interval, HEARTBEAT_RETRY_MS / 1000))
            wait_ms = min(STOP_CHECK_MS, max(0, int((next_heartbeat - time.monotonic()) * 1000) + 1))
            events = dict(self._poller.poll(wait_ms))
            if self._results in events:
                self._forward_results()
            if self._socket is not None and self._socket in events:
                self._read_frontend()
        return next_heartbeat

    def _refuse_late_batches(self, grace_s: float) -> None:
        """Read the socket for ``grace_s`` more, refusing batches, until one was refused.

        A refusal tells the frontend this replica is leaving (it retires the
        connection and re-queues the batch), so nothing more will come.
        """
        self._on_request = self._refuse
        refused = self._refused
        deadline = time.monotonic() + grace_s
        while self._socket is not None and self._refused == refused:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return
            events = dict(self._poller.poll(min(left_ms, STOP_CHECK_MS)))
            if self._results in events:
                self._forward_results()
            if self._socket in events:
                self._read_frontend()

    def _begin_draining(self) -> None:
        if not self.draining.is_set():
            logger.info("stopping: refusing new batches, finishing the one in hand")
        self._on_request = self._refuse
        # Batches queued behind the one in hand would wait for it: answer them now.
        for job in self._worker.take_queued():
            if job.session == self._session:
                self._refuse(job.request, job.received_at)
        self.draining.set()

    # -- sessions --------------------------------------------------------

    def _open_session(self) -> None:
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        # Queue nothing for a frontend that is not there: heartbeats piled up
        # during an outage would only be noise when it comes back.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.connect(self._endpoint)
        self._socket = sock
        self._poller.register(sock, zmq.POLLIN)
        self._session += 1
        self._worker.current_session = self._session
        self._connected = False
        self._announced = False
        logger.info(
            "session %d: connecting to %s as %s:%s (%s)",
            self._session,
            self._endpoint,
            self._settings.model_name,
            self._settings.model_version,
            self._settings.input_type.canonical_name,
        )

    def _close_session(self, linger_ms: int = 0) -> None:
        if self._socket is not None:
            self._poller.unregister(self._socket)
            if linger_ms:
                self._socket.setsockopt(zmq.LINGER, linger_ms)
            self._socket.close()
            self._socket = None
        self._connected = False

    def _send(self, frames: Sequence[Frame], what: str) -> bool:
        assert self._socket is not None
        try:
            self._socket.send_multipart(frames, zmq.NOBLOCK, copy=False)
        except zmq.Again:
            # No connection to the frontend (yet); a frontend that comes back
            # will not know this message's request anyway.
            if what != "heartbeat":
                logger.warning("frontend unreachable; dropping %s", what)
            return False
        return True

    # -- inbound ---------------------------------------------------------

    def _read_frontend(self) -> None:
        assert self._socket is not None
        for _ in range(MAX_MESSAGES_PER_WAKEUP):
            t0 = time.perf_counter()
            try:
                raw = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            recv_ms = (time.perf_counter() - t0) * 1000
            self._connected = True
            self._last_activity = time.monotonic()
            try:
                msg = decode_frontend_message([f.buffer for f in raw])
            except RpcProtocolError as e:
                logger.error("ignoring an erroneous message from the frontend: %s", e)
                continue
            if isinstance(msg, FrontendHeartbeat):
                if msg.heartbeat_type is HeartbeatType.REQUEST_CONTAINER_METADATA:
                    if self._send(self._announcement(msg.nonce), "the new-container message"):
                        # The frontend also re-asks as a liveness probe: log the first only.
                        level = logging.DEBUG if self._announced else logging.INFO
                        self._announced = True
                        logger.log(level, "session %d: announced the model to the frontend", self._session)
            elif isinstance(msg, PredictionRequest):
                self._metrics.record_recv(recv_ms)
                self._on_request(msg, t0)

    def _announcement(self, nonce: bytes) -> list[bytes]:
        """The new-container message, with a proof when a secret is set."""
        s = self._settings
        if not s.rpc_secret:
            return self._new_container
        proof = registration_proof(s.rpc_secret.encode(), nonce, s.model_name, s.model_version, s.input_type)
        return encode_new_container(NewContainer(s.model_name, s.model_version, s.input_type, proof=proof))

    def _dispatch(self, request: PredictionRequest, received_at: float) -> None:
        n = len(request.inputs)
        expected = self._settings.input_type
        if request.input_type is not expected:
            reason = (
                f"request input type {request.input_type.canonical_name} does not match "
                f"the container's input type {expected.canonical_name}"
            )
            logger.error("batch %d: %s", request.msg_id, reason)
            self._send(error_response(request.msg_id, n, reason), "an error response")
        elif n == 0:
            self._send(encode_prediction_response(request.msg_id, []), "an empty response")
        elif not self._worker.submit(BatchJob(self._session, request, received_at)):
            reason = "container overloaded: too many batches queued"
            logger.error("batch %d: %s", request.msg_id, reason)
            self._send(error_response(request.msg_id, n, reason), "an error response")

    def _refuse(self, request: PredictionRequest, received_at: float) -> None:
        self._refused += 1
        self._send(error_response(request.msg_id, len(request.inputs), SHUTTING_DOWN), "an error response")

    # -- results from the worker -------------------------------------------

    def _forward_results(self) -> None:
        for _ in range(MAX_MESSAGES_PER_WAKEUP):
            try:
                raw = self._results.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            result = decode_result([f.buffer for f in raw])
            if result.session != self._session or self._socket is None:
                logger.info("dropping a response computed for closed session %d", result.session)
                continue
            if self._send(result.frames, "a prediction response"):
                self._metrics.record_end_to_end((time.perf_counter() - result.received_at) * 1000)
