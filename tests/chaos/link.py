"""A faulty network link on loopback: a TCP proxy that delays and "loses" what crosses it.

This kernel has no ``sch_netem`` (``tc qdisc add dev lo root netem`` answers
"Specified qdisc kind is unknown"), so the link between the query frontend
and one replica is this proxy instead: the replica connects to it, it
connects on to the frontend's RPC port. ``delay_s`` holds every chunk that
long; ``loss`` holds a chunk with that probability for a TCP retransmission
timeout (what a lost segment costs a TCP peer: the data arrives, late), so
the replica's stream stays intact and in order, as over a real lossy link.
Each direction keeps its order (one pump per direction, sequential).
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

#: What a lost segment costs: Linux's minimum retransmission timeout.
RTO_S = 0.2


@dataclass
class LinkState:
    delay_s: float = 0.0
    loss: float = 0.0


class FaultyLink:
    """``127.0.0.1:<port>`` forwarding to ``upstream_port``, in a thread of its own."""

    def __init__(self, upstream_port: int, seed: int) -> None:
        self.upstream_port = upstream_port
        self.state = LinkState()
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faulty-link", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> FaultyLink:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the faulty link did not start")
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then the loop (nothing left for the collector)."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in list(self._writers):
            try:
                await w.wait_closed()
            except OSError:
                pass

    def set(self, delay_s: float = 0.0, loss: float = 0.0) -> None:
        """From now on (thread-safe: the pumps read it per chunk)."""
        self.state = LinkState(delay_s, loss)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self._writers.add(down_w)
        try:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except (OSError, asyncio.CancelledError):
                return  # the frontend is down (the replica reconnects later), or the link stops
            self._writers.add(up_w)
            pumps = [asyncio.ensure_future(self._pump(down_r, up_w)), asyncio.ensure_future(self._pump(up_r, down_w))]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                pass  # the link stops: end quietly (asyncio's server callback reads the task's exception)
            finally:
                for p in pumps:
                    p.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                up_w.close()
                self._writers.discard(up_w)
        finally:
            down_w.close()
            self._writers.discard(down_w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._forward(reader, writer)
        except (ConnectionError, OSError):
            pass  # one side went away: the connection ends

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        release = 0.0
        while data := await reader.read(65536):
            state = self.state
            hold = state.delay_s + (RTO_S if state.loss and self._random.random() < state.loss else 0.0)
            release = max(release, loop.time() + hold)  # never overtakes an earlier chunk
            if release > loop.time():
                await asyncio.sleep(release - loop.time())
            writer.write(data)
            await writer.drain()
