"""The container runtime's public API: ``ModelContainerBase``, ``RPCService``.

Start-up order of :meth:`RPCService.start`:

1. Resolve settings (keyword arguments, then environment, then defaults) and
   the frontend's address; a missing or malformed setting exits with code 1.
   Then run the model once on the deploy's warm-up batch, if it has one
   (:mod:`model_containers.warmup`), so no query meets a cold model.
2. Start the model worker thread, connected to the I/O thread by inproc PAIR.
3. Start the metrics server (unless disabled).
4. Start the I/O loop thread (DEALER, sessions, heartbeats).
5. Write the readiness file; then watch the loops from the calling thread
   until :meth:`stop`.

The worker and the I/O loop run under a
:class:`~clipper_service.supervisor.ThreadSupervisor`: a loop that crashes is
logged with its traceback and restarted with a capped exponential backoff;
while one is down the readiness file is removed (and :meth:`RPCService.readiness`
says why), and it is written again once both run.

Shutdown, in order: remove the readiness file; the I/O loop stops taking
batches (new ones are answered with an error output at once) but keeps
heartbeating; the worker finishes the batch in hand, answers any still queued
with errors and exits; the I/O loop forwards the last answers and closes the
DEALER; then the metrics server stops and the zmq context ends.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

import zmq

from clipper_protocol.input_types import InputType
from clipper_protocol.warmup import InvalidWarmupInputs, WarmupInputs, warmup_inputs
from clipper_service.supervisor import RestartPolicy, ThreadSupervisor
from model_containers.io_loop import ContainerIOLoop
from model_containers.metrics import ContainerMetrics, MetricsPort
from model_containers.model import ModelContainerBase, PredictionError
from model_containers.settings import (
    ContainerConfigError,
    ContainerSettings,
    model_path_from_env,
    parse_container_input_type,
    resolve_settings,
)
from model_containers.warmup import read_warmup_file, warm_up
from model_containers.worker import BatchWorker

__all__ = ["ModelContainerBase", "PredictionError", "RPCService", "ContainerConfigError"]

logger = logging.getLogger("clipper.container")

_RESULTS_ENDPOINT = "inproc://clipper-container-results"
_WORKER_STOP_TIMEOUT_S = 10.0
_DRAIN_ACK_TIMEOUT_S = 1.0
_LOOP_STOP_TIMEOUT_S = 5.0
READINESS_CHECK_S = 0.1
"""How often the calling thread checks that every loop runs."""
IO_LOOP = "io-loop"
MODEL_WORKER = "model-worker"


class RPCService:
    """Connects a model to a query frontend and serves it.

    ``collect_metrics`` turns the ``clipper_mc_*`` metrics on; with
    ``read_config`` the settings not passed to :meth:`start` come from the
    ``CLIPPER_*`` environment variables; ``restart_policy`` sets the backoff
    between restarts of a crashed loop. A service serves once: after
    :meth:`stop`, make a new one to serve again.
    """

    def __init__(
        self, collect_metrics: bool = True, read_config: bool = True, *, restart_policy: RestartPolicy | None = None
    ) -> None:
        self.collect_metrics = collect_metrics
        self.read_config = read_config
        self.restart_policy = restart_policy
        self.settings: ContainerSettings | None = None
        self.metrics = ContainerMetrics(enabled=collect_metrics)
        self.serving = threading.Event()
        """Set once the I/O loop runs (after the readiness file is written)."""
        self.supervisor: ThreadSupervisor | None = None
        """The supervisor of the worker and I/O loop threads, once serving."""
        self._stop = threading.Event()

    def get_model_path(self) -> str:
        """``CLIPPER_MODEL_PATH``; exits with code 1 if it is not set."""
        try:
            return model_path_from_env()
        except ContainerConfigError as e:
            _exit_on_config_error(e)

    def get_input_type(self) -> str:
        """Canonical name of the container's input type (``CLIPPER_INPUT_TYPE``)."""
        try:
            return parse_container_input_type(os.environ.get("CLIPPER_INPUT_TYPE", "doubles")).canonical_name
        except ContainerConfigError as e:
            _exit_on_config_error(e)

    def start(
        self,
        model: ModelContainerBase,
        *,
        model_name: str | None = None,
        model_version: str | int | None = None,
        host: str | None = None,
        port: int | None = None,
        input_type: str | InputType | None = None,
        heartbeat_interval_ms: int | None = None,
        activity_timeout_ms: int | None = None,
        metrics_port: MetricsPort | None = None,
        ready_file: str | None = None,
        rpc_secret: str | None = None,
        warmup: Sequence[object] | None = None,
    ) -> None:
        """Serve ``model`` until :meth:`stop` is called (from another thread).

        Keyword arguments override the environment; see
        :class:`~model_containers.settings.ContainerSettings`. Before it
        connects, the model answers one warm-up batch: ``warmup`` (inputs as
        a query's JSON ``"input"``), else the deploy's ``warmup_inputs.json``
        in ``CLIPPER_MODEL_PATH``, if any.
        """
        try:
            settings = resolve_settings(
                os.environ if self.read_config else None,
                model_name=model_name,
                model_version=None if model_version is None else str(model_version),
                host=host,
                port=port,
                input_type=input_type,
                heartbeat_interval_ms=heartbeat_interval_ms,
                activity_timeout_ms=activity_timeout_ms,
                metrics_port=metrics_port,
                ready_file=ready_file,
                rpc_secret=rpc_secret,
            )
            address = _resolve_host(settings.host)
            batch = _warmup_batch(settings.input_type, warmup)
        except ContainerConfigError as e:
            _exit_on_config_error(e)
        self.settings = settings
        self.metrics.set_model(settings.model_name, settings.model_version)
        if batch is not None:
            with self.metrics.user.discarding():
                warm_up(model, settings.input_type, batch)
        self._serve(model, settings, address)

    def stop(self) -> None:
        """End :meth:`start`'s loop; safe to call from any thread, or twice."""
        self._stop.set()

    def readiness(self) -> tuple[bool, str | None]:
        """(True, None) while serving with every loop running, else (False, why)."""
        supervisor = self.supervisor
        if supervisor is None or not self.serving.is_set():
            return False, "not serving"
        return supervisor.readiness()

    def _serve(self, model: ModelContainerBase, settings: ContainerSettings, address: str) -> None:
        context = zmq.Context()
        results = context.socket(zmq.PAIR)
        results.setsockopt(zmq.LINGER, 0)
        results.bind(_RESULTS_ENDPOINT)
        worker = BatchWorker(context, _RESULTS_ENDPOINT, model, settings.input_type, self.metrics)
        loop = ContainerIOLoop(context, settings, address, results, worker, self.metrics, self._stop)
        supervisor = ThreadSupervisor(f"container {settings.model_name}:{settings.model_version}", logger,
                                      self.restart_policy)
        self.supervisor = supervisor
        supervisor.start(MODEL_WORKER, worker.run)
        ready = _ReadyFile(settings.ready_file)
        try:
            self.metrics.serve(settings.metrics_port)
            supervisor.start(IO_LOOP, loop.run)
            ready.claim()
            self.serving.set()
            self._watch(supervisor, ready)
        finally:
            self._stop.set()
            self.serving.clear()
            ready.withdraw()
            worker_done = _shut_down(loop, worker, supervisor)
            results.close()
            self.metrics.close()
            if worker_done:
                context.term()
            else:
                # term() would wait for the worker's socket forever.
                logger.error("model still busy after %.0f s; leaving its thread behind", _WORKER_STOP_TIMEOUT_S)
            logger.info("container stopped")

    def _watch(self, supervisor: ThreadSupervisor, ready: _ReadyFile) -> None:
        """Until :meth:`stop`: keep the readiness file in step with the loops."""
        up = True
        while not self._stop.wait(READINESS_CHECK_S):
            ok, reason = supervisor.readiness()
            if ok == up:
                continue
            up = ok
            if ok:
                logger.info("every loop runs again; ready")
                ready.claim()
            else:
                logger.warning("not ready: %s", reason)
                ready.withdraw()


def _shut_down(loop: ContainerIOLoop, worker: BatchWorker, supervisor: ThreadSupervisor) -> bool:
    """Drain, then stop the loops; True if the worker exited (its socket closed)."""
    if supervisor.running(IO_LOOP):
        loop.draining.wait(_DRAIN_ACK_TIMEOUT_S)
    worker_done = worker.finish(_WORKER_STOP_TIMEOUT_S) if supervisor.running(MODEL_WORKER) else worker.finished.is_set()
    left = supervisor.close(_LOOP_STOP_TIMEOUT_S)
    if IO_LOOP in left:
        logger.error("the I/O loop did not stop within %.0f s", _LOOP_STOP_TIMEOUT_S)
    return worker_done and MODEL_WORKER not in left


def _warmup_batch(input_type: InputType, warmup: Sequence[object] | None) -> WarmupInputs | None:
    if warmup is None:
        return read_warmup_file(os.environ.get("CLIPPER_MODEL_PATH"))
    try:
        return warmup_inputs(input_type, warmup)
    except InvalidWarmupInputs as e:
        raise ContainerConfigError(f"warmup: {e}") from None


def _resolve_host(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError as e:
        raise ContainerConfigError(f"CLIPPER_IP: cannot resolve {host!r}: {e}") from None


def _exit_on_config_error(error: ContainerConfigError) -> NoReturn:
    # Like the original: a container that cannot know what it serves exits 1.
    logger.error("ERROR: %s", error)
    sys.exit(1)


class _ReadyFile:
    """The readiness file, written while the container claims to be ready."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.written = False

    def claim(self) -> None:
        if not self.written:
            self.written = _write_ready_file(self.path)

    def withdraw(self) -> None:
        if self.written:
            _remove_ready_file(self.path)
            self.written = False


def _write_ready_file(path: str) -> bool:
    """Write ``READY`` to ``path``; False (not fatal) if it cannot be written.

    Outside an image (tests, local runs) the default path at the filesystem
    root is usually not writable, and nothing probes it there.
    """
    try:
        with open(path, "w") as f:
            f.write("READY")
    except OSError as e:
        logger.debug("cannot write readiness file %s: %s", path, e)
        return False
    return True


def _remove_ready_file(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
