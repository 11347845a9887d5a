"""Runs one process of a local cluster and restarts it when it fails, as Docker's ``on-failure`` policy does.

    python restarter.py [--ready-port PORT --ready-mark FILE] -- <command ...>

Every model replica runs under it, and so do the cluster's Redis and
frontends: a killed query frontend, management frontend or Redis comes back
on its ports (Redis from its append-only file), as Kubernetes restarts a pod.

Started as a script (not ``-m``), so it imports nothing but the standard
library. The replica's output goes where this process's goes (its log).
A process that exits with an error or is killed after it was ready once
(its ``CLIPPER_READY_FILE`` existed, or with ``--ready-port`` something
accepted connections on 127.0.0.1:PORT, which this process then marks by
creating FILE: whoever starts it waits for the mark, so a process killed
right after it first served is still restarted) is started again after a delay that
doubles from 0.5 s up to 30 s, and falls back to 0.5 s once a run lasted
10 s (as Docker's restart policy resets its delay). One that fails before it was ever ready is not restarted: this
process exits with its status, so a deploy reports the failure at once
instead of waiting on a crash loop. SIGTERM or SIGINT stop the replica and
this process, which then exits with the replica's status.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from types import FrameType

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_RUN_S = 10.0
#: A stop signal sent to this process alone reaches the replica after this long.
FORWARD_AFTER_S = 2.0
_POLL_S = 0.1


class Restarter:
    """Keeps one command running; see the module docstring for the policy."""

    def __init__(self, cmd: list[str], ready_file: str | None, ready_port: int | None = None,
                 ready_mark: str | None = None) -> None:
        self.cmd = cmd
        self.ready_file = ready_file
        self.ready_port = ready_port
        self.ready_mark = ready_mark
        self.stopping = False
        self.stop_signal: int = signal.SIGTERM
        self.stop_requested_at = 0.0
        self.child: subprocess.Popen[bytes] | None = None
        self._forwarded = False
        self.what = "the replica" if ready_port is None else "the process"

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        # The local manager signals the whole process group, so the replica got
        # the signal too; it is passed on only if the replica is still up later.
        self.stopping = True
        self.stop_signal = signum
        self.stop_requested_at = time.monotonic()

    def _was_ready(self) -> bool:
        if self.ready_port is not None:
            try:
                with socket.create_connection(("127.0.0.1", self.ready_port), timeout=_POLL_S):
                    pass
            except OSError:
                return False
            if self.ready_mark is not None:
                with open(self.ready_mark, "w"):
                    pass
            return True
        return self.ready_file is not None and os.path.exists(self.ready_file)

    def run(self) -> int:
        delay = FIRST_DELAY_S
        restarts = 0
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(self.cmd, preexec_fn=_die_with_parent)
            ready_seen = False
            while (code := self.child.poll()) is None:
                # Checked until seen once (a port check is a connection to the server).
                ready_seen = ready_seen or self._was_ready()
                if self.stopping and not self._forwarded and time.monotonic() - self.stop_requested_at > FORWARD_AFTER_S:
                    self.child.send_signal(self.stop_signal)
                    self._forwarded = True
                time.sleep(_POLL_S)
            ready_seen = ready_seen or (self.ready_port is None and self._was_ready())
            if self.stopping or code == 0 or not ready_seen:
                return code if code >= 0 else 128 - code
            # A crashed replica leaves its ready file behind; it is not ready now.
            if self.ready_file is not None:
                try:
                    os.remove(self.ready_file)
                except OSError:
                    pass
            if time.monotonic() - started >= STABLE_RUN_S:
                delay = FIRST_DELAY_S
            restarts += 1
            how = f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
            _log(f"{self.what} {how}; restarting it in {delay:.1f} s (restart {restarts})")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if self.stopping:
                    return code if code >= 0 else 128 - code
                time.sleep(_POLL_S)
            delay = min(delay * 2, MAX_DELAY_S)


def _die_with_parent() -> None:
    """In the replica, before exec: SIGTERM when this process dies (Linux), so no replica outlives its record."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _log(message: str) -> None:
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    print(f"{stamp} WARNING [RESTARTER] {message}", flush=True)


def main(argv: list[str]) -> int:
    ready_port = ready_mark = None
    if len(argv) >= 4 and argv[0] == "--ready-port" and argv[1].isdigit() and argv[2] == "--ready-mark":
        ready_port, ready_mark, argv = int(argv[1]), argv[3], argv[4:]
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: restarter.py [--ready-port PORT --ready-mark FILE] -- COMMAND [ARGS ...]", file=sys.stderr)
        return 2
    restarter = Restarter(argv[1:], os.environ.get("CLIPPER_READY_FILE"), ready_port, ready_mark)
    signal.signal(signal.SIGTERM, restarter.stop)
    signal.signal(signal.SIGINT, restarter.stop)
    return restarter.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
