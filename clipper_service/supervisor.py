"""Supervised background work: crash logging, restart with backoff, readiness, ordered shutdown.

A long-lived loop that dies silently leaves a process that looks healthy
while it no longer does its job. Every background loop of a Clipper process
therefore runs under a supervisor, which

- logs an unexpected exception with its traceback,
- marks the process not ready, naming the loop and the error, until the loop
  runs again,
- restarts it after a capped exponential backoff (reset once a run has lasted
  ``stable_after_s``), unless it was started with ``restart=False``,
- stops loops in the order its owner asks (:meth:`TaskSupervisor.stop`), and
  the rest in reverse start order (:meth:`TaskSupervisor.close`).

:class:`TaskSupervisor` supervises asyncio tasks (the frontends);
:class:`ThreadSupervisor` supervises threads (the model-container runtime,
whose model calls block). Both share the restart policy and health record.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    """Capped exponential backoff between restarts of a crashed loop."""

    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    stable_after_s: float = 30.0
    """A run that lasted this long resets the backoff to its initial value."""

    def next_backoff(self, previous_s: float | None, ran_for_s: float) -> float:
        if previous_s is None or ran_for_s >= self.stable_after_s:
            return self.initial_backoff_s
        return min(previous_s * 2, self.max_backoff_s)


@dataclass
class _Health:
    """Which supervised loops are down, and why (shared by both supervisors)."""

    log: logging.Logger
    owner: str
    problems: dict[str, str] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def crashed(self, name: str, error: BaseException, backoff_s: float | None) -> None:
        reason = f"{name} crashed: {type(error).__name__}: {error}"
        with self.lock:
            self.problems[name] = reason
            self.crashes[name] = self.crashes.get(name, 0) + 1
        if backoff_s is None:
            self.log.error("%s: %s crashed and is not restarted", self.owner, name, exc_info=error)
        else:
            self.log.error("%s: %s crashed; restarting it in %.2f s", self.owner, name, backoff_s, exc_info=error)

    def running(self, name: str) -> None:
        with self.lock:
            was_down = self.problems.pop(name, None) is not None
        if was_down:
            self.log.warning("%s: %s restarted", self.owner, name)

    def forget(self, name: str) -> None:
        """``name`` was stopped on purpose: it is no longer expected to run."""
        with self.lock:
            self.problems.pop(name, None)


class _Base:
    def __init__(self, owner: str, log: logging.Logger, policy: RestartPolicy | None) -> None:
        self.policy = policy or RestartPolicy()
        self._health = _Health(log, owner)

    @property
    def problems(self) -> dict[str, str]:
        """Loops that are down now (crashed and not yet running again), with the reason."""
        with self._health.lock:
            return dict(self._health.problems)

    def crash_count(self, name: str) -> int:
        with self._health.lock:
            return self._health.crashes.get(name, 0)

    def readiness(self) -> tuple[bool, str | None]:
        """(True, None) while every loop runs, else (False, the reasons)."""
        problems = self.problems
        if not problems:
            return True, None
        return False, "; ".join(problems[name] for name in sorted(problems))


class TaskSupervisor(_Base):
    """Owns the asyncio tasks of one component (see the module docstring)."""

    def __init__(self, owner: str, log: logging.Logger, policy: RestartPolicy | None = None) -> None:
        super().__init__(owner, log, policy)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]], *, restart: bool = True) -> None:
        """Run ``run()`` in a task named ``name``; restart it when it raises.

        A run that returns normally is finished and not restarted.
        """
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"a task named {name!r} is already running")
        self._tasks.pop(name, None)  # started again: last in the start order
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._supervise(name, run, restart), name=f"{self._health.owner}:{name}"
        )

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]], restart: bool) -> None:
        backoff: float | None = None
        while True:
            started = time.monotonic()
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # A library turned our cancellation into an error of its own
                    # (see cancel_and_wait): the loop was stopped, it did not crash.
                    raise asyncio.CancelledError from e
                if not restart:
                    self._health.crashed(name, e, None)
                    return
                backoff = self.policy.next_backoff(backoff, time.monotonic() - started)
                self._health.crashed(name, e, backoff)
            await asyncio.sleep(backoff)  # the backoff itself, not a timeout
            self._health.running(name)

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def stop(self, *names: str) -> None:
        """Stop the named tasks (in that order) and wait until each has finished."""
        for name in names:
            task = self._tasks.pop(name, None)
            if task is not None:
                await cancel_and_wait([task])
            self._health.forget(name)

    async def close(self) -> None:
        """Stop every task still running, last started first."""
        await self.stop(*reversed(list(self._tasks)))


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished.

    Cancellation is repeated until it sticks: a library that turns a
    cancellation into its own error (redis-py's timeouts can, on Python 3.11)
    would otherwise leave a loop running and its owner waiting forever.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)


class ThreadSupervisor(_Base):
    """Owns the threads of one component; each loop gets a stop event to watch.

    Each thread has a stop event of its own, so :meth:`stop` and
    :meth:`close` stop loops one after the other, each once the previous one
    has finished, as :class:`TaskSupervisor` does. ``stopping`` is set when
    :meth:`close` begins.
    """

    def __init__(self, owner: str, log: logging.Logger, policy: RestartPolicy | None = None) -> None:
        super().__init__(owner, log, policy)
        self.stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._stops: dict[str, threading.Event] = {}

    def start(self, name: str, run: Callable[[threading.Event], None], *, restart: bool = True) -> None:
        """Run ``run(stop_event)`` in a daemon thread; restart it when it raises.

        ``run`` must return soon after the stop event is set. A run that
        returns normally is finished and not restarted.
        """
        if self.running(name):
            raise RuntimeError(f"a thread named {name!r} is already running")
        stop = threading.Event()
        if self.stopping.is_set():
            stop.set()
        thread = threading.Thread(target=self._supervise, args=(name, run, restart, stop),
                                  name=f"{self._health.owner}:{name}", daemon=True)
        self._threads.pop(name, None)  # started again: last in the start order
        self._threads[name] = thread
        self._stops[name] = stop
        thread.start()

    def _supervise(self, name: str, run: Callable[[threading.Event], None], restart: bool,
                   stop: threading.Event) -> None:
        backoff: float | None = None
        while not stop.is_set():
            started = time.monotonic()
            try:
                run(stop)
                return
            except BaseException as e:  # noqa: BLE001 - SystemExit too: it would end the thread silently
                if not restart or stop.is_set():
                    self._health.crashed(name, e, None)
                    return
                backoff = self.policy.next_backoff(backoff, time.monotonic() - started)
                self._health.crashed(name, e, backoff)
            if stop.wait(backoff):
                return
            self._health.running(name)

    def running(self, name: str) -> bool:
        thread = self._threads.get(name)
        return thread is not None and thread.is_alive()

    def stop(self, *names: str, timeout_s: float = 5.0) -> list[str]:
        """Stop the named threads, in that order, each after the previous one has finished.

        Returns the names of threads still alive after ``timeout_s`` in all.
        """
        deadline = time.monotonic() + timeout_s
        left = []
        for name in names:
            stop, thread = self._stops.get(name), self._threads.get(name)
            if stop is None or thread is None:
                continue
            stop.set()
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                left.append(name)
            else:
                self._health.forget(name)
        return left

    def close(self, timeout_s: float = 5.0) -> list[str]:
        """Set ``stopping`` and stop every thread, last started first (see :meth:`stop`).

        Returns the names of threads still alive after ``timeout_s`` in all.
        """
        self.stopping.set()
        self.stop(*reversed(list(self._threads)), timeout_s=timeout_s)
        return [name for name, t in self._threads.items() if t.is_alive()]
