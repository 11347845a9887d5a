"""The chaos schedule: seeded random faults against a :class:`~tests.chaos.cluster.ChaosCluster`.

Every 1.5-4 s (seeded) one of: SIGKILL or SIGSTOP (SIGCONT 1-3 s later) of a
replica, SIGKILL of the query frontend, the management frontend or Redis
(their restarter brings them back), delay or loss on the faulty link for
3-8 s, and admin calls through ``ClipperConnection`` (a version switch of
``slow``, a scale of its current version between 2 and 3, a new
application), which run one at a time in a thread of their own so a call
that waits on a dead frontend does not hold the faults up. Every action is
an :class:`Event` on the timeline; the admin calls that returned success are
kept, to be checked at the end.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clipper_admin.exceptions import ClipperException
from tests.chaos.cluster import ChaosCluster

WEIGHTS = {
    "replica_kill": 3, "replica_freeze": 2, "qf_kill": 1, "mf_kill": 1, "redis_kill": 1,
    "net_delay": 1, "net_loss": 1, "version_switch": 2, "scale": 1, "new_app": 2,
}
ROLES = {"qf_kill": "query_frontend", "mf_kill": "management_frontend", "redis_kill": "redis"}


@dataclass
class Event:
    t: float
    kind: str
    detail: str
    ok: bool = True
    end: float | None = None


@dataclass
class Acknowledged:
    """Admin writes that returned success, in order."""

    apps: list[str] = field(default_factory=list)
    versions: list[tuple[float, str]] = field(default_factory=list)
    #: Whether the last version switch attempted was acknowledged (an unacknowledged one may still have landed).
    last_switch_acked: bool = True


class Chaos:
    """Runs the schedule until :meth:`stop`; ``now()`` is seconds since ``t0`` (the load's clock)."""

    def __init__(self, cluster: ChaosCluster, seed: int, now: Callable[[], float]) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.now = now
        self.events: list[Event] = []
        self.acked = Acknowledged()
        #: [kill time, time the new query frontend accepted connections] per query-frontend kill.
        self.qf_outages: list[list[float]] = []
        self._heals: list[tuple[float, Callable[[], None], str]] = []
        self._admin: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._admin_thread = threading.Thread(target=self._admin_loop, name="chaos-admin", daemon=True)
        self._stop = threading.Event()
        self._apps = 0
        self.last_fault = 0.0

    # ------------------------------------------------------------------ driving

    def run(self, until: float) -> None:
        """Inject faults until ``until`` (seconds on ``now()``), then heal everything and wait for admin calls."""
        self._admin_thread.start()
        next_fault = self.now() + self.rng.uniform(1.5, 4.0)
        while not self._stop.is_set() and self.now() < until:
            t = self.now()
            self._run_heals(t)
            if self.cluster.tend_external(t):
                self.last_fault = t  # the restart closes the fault
            if t >= next_fault:
                kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
                self._inject(kind, t)
                self.last_fault = t
                next_fault = t + self.rng.uniform(1.5, 4.0)
            time.sleep(0.05)
        self._run_heals(float("inf"))
        self._admin.put(None)
        self._admin_thread.join(180)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(r.proc is None or r.proc.poll() is not None
                                                  for r in self.cluster.external):
            if self.cluster.tend_external(float("inf")):
                self.last_fault = self.now()
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()

    def _run_heals(self, t: float) -> None:
        due = [h for h in self._heals if h[0] <= t]
        self._heals = [h for h in self._heals if h[0] > t]
        for _, heal, what in due:
            heal()
            self.events.append(Event(self.now(), "heal", what))
            self.last_fault = self.now()

    def _later(self, delay_s: float, heal: Callable[[], None], what: str) -> None:
        self._heals.append((self.now() + delay_s, heal, what))

    # ------------------------------------------------------------------ faults

    def _inject(self, kind: str, t: float) -> None:
        c = self.cluster
        if kind in ("replica_kill", "replica_freeze"):
            targets = {f"slow {n}": pid for n, pid in c.model_replica_pids().items()}
            targets.update({f"fast-{r.index}{' (via link)' if r.via_link else ''}": r.proc.pid
                            for r in c.external if r.proc is not None and r.proc.poll() is None})
            if not targets:
                return
            name = self.rng.choice(sorted(targets))
            pid = targets[name]
            if kind == "replica_kill":
                self._signal(pid, signal.SIGKILL)
                self.events.append(Event(t, kind, f"SIGKILL {name} (pid {pid})"))
            else:
                self._signal(pid, signal.SIGSTOP)
                frozen = self.rng.uniform(1.0, 3.0)
                self.events.append(Event(t, kind, f"SIGSTOP {name} (pid {pid}) for {frozen:.1f} s"))
                self._later(frozen, lambda: self._signal(pid, signal.SIGCONT), f"SIGCONT {name} (pid {pid})")
        elif kind in ROLES:
            pid = c.served_pid(ROLES[kind])
            if pid is None:
                return  # restarting already
            self._signal(pid, signal.SIGKILL)
            self.events.append(Event(t, kind, f"SIGKILL {ROLES[kind]} (pid {pid})"))
            if kind == "qf_kill":
                outage = [t, float("inf")]
                self.qf_outages.append(outage)
                threading.Thread(target=self._watch_qf_back, args=(pid, outage), daemon=True).start()
        elif kind in ("net_delay", "net_loss"):
            lasting = self.rng.uniform(3.0, 8.0)
            if kind == "net_delay":
                delay = self.rng.uniform(0.01, 0.04)
                c.link.set(delay_s=delay)
                what = f"link delay {delay * 1000:.0f} ms for {lasting:.1f} s"
            else:
                loss = self.rng.uniform(0.05, 0.2)
                c.link.set(loss=loss)
                what = f"link loss {loss:.0%} for {lasting:.1f} s"
            self.events.append(Event(t, kind, what))
            self._later(lasting, c.link.set, "link healthy")
        else:
            self._admin.put(lambda: self._admin_call(kind))

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _watch_qf_back(self, old_pid: int, outage: list[float]) -> None:
        host, port = self.cluster.cm.get_query_addr().rsplit(":", 1)
        while not self._stop.is_set():
            pid = self.cluster.served_pid("query_frontend")
            if pid is not None and pid != old_pid:
                try:
                    with socket.create_connection((host, int(port)), timeout=0.2):
                        outage[1] = self.now()
                        return
                except OSError:
                    pass
            time.sleep(0.05)

    # ------------------------------------------------------------------ admin calls

    def _admin_loop(self) -> None:
        while (call := self._admin.get()) is not None:
            call()

    def _admin_call(self, kind: str) -> None:
        conn = self.cluster.conn
        start = self.now()
        event = Event(start, kind, "")
        try:
            if kind == "version_switch":
                current = conn.get_current_model_version("slow")
                target = "2" if current == "1" else "1"
                event.detail = f"set_model_version slow -> {target}"
                self.acked.last_switch_acked = False
                conn.set_model_version("slow", target)
                self.acked.versions.append((self.now(), target))
                self.acked.last_switch_acked = True
            elif kind == "scale":
                n = self.rng.choice((2, 3))
                event.detail = f"set_num_replicas slow {n}"
                conn.set_num_replicas("slow", n)
            else:
                self._apps += 1
                name = f"chaos-app-{self._apps}"
                event.detail = f"register_application {name}"
                conn.register_application(name, "doubles", "-1", 100_000)
                self.acked.apps.append(name)
        except (ClipperException, OSError, ValueError) as e:  # a frontend down mid-call: not acknowledged
            event.ok = False
            event.detail += f" failed: {str(e)[:160]}"
        event.end = self.now()
        self.events.append(event)
        self.last_fault = max(self.last_fault, event.end)
