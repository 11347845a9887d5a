"""The container runtime's public API: ``ModelContainerBase``, ``RPCService``.

Start-up order of :meth:`RPCService.start`:

1. Resolve settings (keyword arguments, then environment, then defaults) and
   the frontend's address; a missing or malformed setting exits with code 1.
2. Start the model worker thread, connected to the I/O thread by inproc PAIR.
3. Start the metrics server (unless disabled).
4. Write the readiness file.
5. Run the I/O loop in the calling thread until :meth:`stop`.

Shutdown, in reverse: remove the readiness file, close the DEALER, stop the
worker after its current batch, stop the metrics server, end the zmq context.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from typing import NoReturn

import zmq

from clipper_protocol.input_types import InputType
from model_containers.io_loop import ContainerIOLoop
from model_containers.metrics import ContainerMetrics
from model_containers.model import ModelContainerBase, PredictionError
from model_containers.settings import (
    ContainerConfigError,
    ContainerSettings,
    model_path_from_env,
    parse_container_input_type,
    resolve_settings,
)
from model_containers.worker import BatchWorker

__all__ = ["ModelContainerBase", "PredictionError", "RPCService", "ContainerConfigError"]

logger = logging.getLogger("clipper.container")

_RESULTS_ENDPOINT = "inproc://clipper-container-results"
_WORKER_STOP_TIMEOUT_S = 10.0


class RPCService:
    """Connects a model to a query frontend and serves it.

    ``collect_metrics`` turns the ``clipper_mc_*`` metrics on; with
    ``read_config`` the settings not passed to :meth:`start` come from the
    ``CLIPPER_*`` environment variables. A service serves once: after
    :meth:`stop`, make a new one to serve again.
    """

    def __init__(self, collect_metrics: bool = True, read_config: bool = True) -> None:
        self.collect_metrics = collect_metrics
        self.read_config = read_config
        self.settings: ContainerSettings | None = None
        self.metrics = ContainerMetrics(enabled=collect_metrics)
        self.serving = threading.Event()
        """Set once the I/O loop runs (after the readiness file is written)."""
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
        metrics_port: int | None = None,
        ready_file: str | None = None,
        rpc_secret: str | None = None,
    ) -> None:
        """Serve ``model`` until :meth:`stop` is called (from another thread).

        Keyword arguments override the environment; see
        :class:`~model_containers.settings.ContainerSettings`.
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
        except ContainerConfigError as e:
            _exit_on_config_error(e)
        self.settings = settings
        self._serve(model, settings, address)

    def stop(self) -> None:
        """End :meth:`start`'s loop; safe to call from any thread, or twice."""
        self._stop.set()

    def _serve(self, model: ModelContainerBase, settings: ContainerSettings, address: str) -> None:
        context = zmq.Context()
        results = context.socket(zmq.PAIR)
        results.setsockopt(zmq.LINGER, 0)
        results.bind(_RESULTS_ENDPOINT)
        worker = BatchWorker(context, _RESULTS_ENDPOINT, model, settings.input_type, self.metrics)
        worker.start()
        wrote_ready = False
        try:
            self.metrics.serve(settings.metrics_port)
            wrote_ready = _write_ready_file(settings.ready_file)
            loop = ContainerIOLoop(context, settings, address, results, worker, self.metrics, self._stop)
            self.serving.set()
            loop.run()
        finally:
            self.serving.clear()
            if wrote_ready:
                _remove_ready_file(settings.ready_file)
            worker_done = worker.stop(_WORKER_STOP_TIMEOUT_S)
            results.close()
            self.metrics.close()
            if worker_done:
                context.term()
            else:
                # term() would wait for the worker's socket forever.
                logger.error("model still busy after %.0f s; leaving its thread behind", _WORKER_STOP_TIMEOUT_S)
            logger.info("container stopped")


def _resolve_host(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError as e:
        raise ContainerConfigError(f"CLIPPER_IP: cannot resolve {host!r}: {e}") from None


def _exit_on_config_error(error: ContainerConfigError) -> NoReturn:
    # Like the original: a container that cannot know what it serves exits 1.
    logger.error("ERROR: %s", error)
    sys.exit(1)


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
