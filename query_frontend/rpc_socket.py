"""The ZeroMQ ROUTER the model replicas connect to, and its read path.

Sends and receives go through a synchronous shadow of the socket: sends
never block (NOBLOCK) and an unroutable identity must raise at once
(ROUTER_MANDATORY). ZeroMQ's file descriptor is edge-triggered and any
operation may consume the edge announcing input, so input is read by an
event-loop FD reader that drains until EAGAIN (a bounded number of messages
per loop turn), and every send re-checks ``ZMQ_EVENTS``; without this, a
lone surviving replica's messages could sit unread until another peer
connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

log = logging.getLogger("clipper.query_frontend.rpc")

DRAIN_PER_WAKEUP = 256
"""Messages handled per call of the input reader before yielding to the loop."""


class RouterSocket:
    """One ROUTER socket; every received message goes to ``on_message(frames)``."""

    def __init__(self, host: str, port: int, on_message: Callable[[list[bytes]], None]) -> None:
        self.host = host
        self.port = port
        self._on_message = on_message
        self._ctx = zmq.asyncio.Context()
        self._sock: zmq.asyncio.Socket | None = None
        self._sender: zmq.Socket[Any] | None = None
        self._monitor: zmq.asyncio.Socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_scheduled = False
        self._fd = -1
        self._closed = False

    def bind(self) -> None:
        """Bind and start reading (raises ZMQError, e.g. when the port is taken, having closed everything)."""
        sock = self._ctx.socket(zmq.ROUTER)
        try:
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 100000)
            sock.setsockopt(zmq.RCVHWM, 100000)
            self._monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            sock.bind(f"tcp://{self.host}:{self.port}")
        except BaseException:
            self._sock = sock
            self.close()
            raise
        if self.port == 0:
            endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            self.port = int(endpoint.rsplit(":", 1)[1])
        self._sock = sock
        self._sender = zmq.Socket.shadow(sock.underlying)
        self._loop = asyncio.get_running_loop()
        fd = self._sender.getsockopt(zmq.FD)
        assert isinstance(fd, int)
        self._fd = fd
        self._loop.add_reader(fd, self._drain_input)
        log.info("RPC service listening on tcp://%s:%d", self.host, self.port)
        self.schedule_read()

    def close(self) -> None:
        """Stop reading and close the sockets and the context (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        self._sender = None
        if self._sock is not None:
            self._sock.disable_monitor()
            self._sock.close(linger=0)
            self._sock = None
        if self._monitor is not None:
            self._monitor.close(linger=0)
            self._monitor = None
        self._ctx.term()

    # ------------------------------------------------------------ sending

    def send(self, identity: bytes, frames: list[Any]) -> bool:
        """Send without blocking; False if the peer is gone (or its pipe is full)."""
        sender = self._sender
        if sender is None:
            return False
        try:
            sender.send_multipart([identity, *frames], flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.ZMQError as e:
            if e.errno in (zmq.EHOSTUNREACH, zmq.EAGAIN):
                return False
            raise
        finally:
            self.schedule_read()

    # ------------------------------------------------------------ receiving

    def input_waiting(self) -> bool:
        """Whether unread messages wait (without reading them)."""
        if self._sender is None:
            return False
        events = self._sender.getsockopt(zmq.EVENTS)
        return isinstance(events, int) and bool(events & zmq.POLLIN)

    def schedule_read(self) -> None:
        """Drain input soon if any is waiting (an operation may have eaten the FD's edge)."""
        if self._read_scheduled or self._loop is None or self._sender is None:
            return
        events = self._sender.getsockopt(zmq.EVENTS)
        if isinstance(events, int) and events & zmq.POLLIN:
            self._read_scheduled = True
            self._loop.call_soon(self._drain_input)

    def _drain_input(self) -> None:
        """Handle the messages waiting, a bounded number per loop turn."""
        self._read_scheduled = False
        sync = self._sender
        if sync is None or self._loop is None:
            return
        handle = self._on_message
        for _ in range(DRAIN_PER_WAKEUP):
            try:
                frames = sync.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                handle(frames)
            except Exception:
                log.exception("Failed to handle an RPC message; dropping it")
        self.schedule_read()  # more waiting: let other work run first

    async def disconnection(self) -> None:
        """Return at the next TCP disconnection of any peer (the socket monitor's event)."""
        monitor = self._monitor
        assert monitor is not None
        while True:
            event = parse_monitor_message(await monitor.recv_multipart())
            if event["event"] == zmq.EVENT_DISCONNECTED:
                return
