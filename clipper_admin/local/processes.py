"""Start, watch and stop the detached processes of a local cluster.

Every process runs in a session of its own so the cluster outlives the Python
process that started it; any other process can later check or stop it from
the pid and start time recorded in ``cluster.json``. The start time guards
against pid reuse: a pid whose start time differs is someone else's process.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Popen handles of the processes this Python process started. Keeping them
# lets us reap children that die (no zombies while we live) and keeps their
# handles from being garbage-collected while they still run.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
# Exit statuses of reaped children, for error messages.
_EXIT_CODES: dict[int, int] = {}

_PROC = Path("/proc")


@atexit.register
def _reap_exited_children() -> None:
    """Reap children that already exited, so their handles close without a warning.

    Children still running are the cluster's, meant to outlive this process.
    """
    for proc in list(_CHILDREN.values()):
        proc.poll()


@dataclass(frozen=True)
class ProcessHandle:
    """Identity of a detached process: its pid and kernel start time."""

    pid: int
    start_ticks: int | None


def spawn(
    cmd: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessHandle:
    """Start ``cmd`` in a new session with stdout and stderr going to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    _EXIT_CODES.pop(proc.pid, None)
    return ProcessHandle(proc.pid, _start_ticks(proc.pid))


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc, or None if no such pid."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])


def _start_ticks(pid: int) -> int | None:
    if not _PROC.is_dir():
        return None
    stat = _read_stat(pid)
    return stat[1] if stat else None


def is_alive(handle: ProcessHandle) -> bool:
    """True while the recorded process runs (zombies and reused pids count as gone)."""
    child = _CHILDREN.get(handle.pid)
    if child is not None:
        # Our own child: its pid cannot be reused before we reap it.
        if child.poll() is None:
            return True
        del _CHILDREN[handle.pid]
        _EXIT_CODES[handle.pid] = child.returncode
        return False
    if _PROC.is_dir():
        stat = _read_stat(handle.pid)
        if stat is None:
            return False
        state, ticks = stat
        if state in ("Z", "X", "x"):
            return False
        return handle.start_ticks is None or ticks == handle.start_ticks
    try:
        os.kill(handle.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_code(handle: ProcessHandle) -> int | None:
    """Exit status if this Python process started it and it has exited, else None."""
    child = _CHILDREN.get(handle.pid)
    if child is None:
        return _EXIT_CODES.get(handle.pid)
    return child.poll()


def _signal_group(handle: ProcessHandle, sig: signal.Signals) -> None:
    # Each process leads its own session, so its group id is its pid and the
    # signal also reaches anything it started.
    try:
        os.killpg(handle.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(handles: Iterable[ProcessHandle], graceful: bool = True, grace_s: float = 10.0) -> None:
    """Stop every process (SIGTERM, then SIGKILL after ``grace_s``) and wait until all are gone.

    With ``graceful=False`` they get SIGKILL straight away.
    """
    pending = [h for h in handles if is_alive(h)]
    first = signal.SIGTERM if graceful else signal.SIGKILL
    for h in pending:
        _signal_group(h, first)
    deadline = time.monotonic() + grace_s
    killed = not graceful
    while pending:
        still = []
        for h in pending:
            if is_alive(h):
                still.append(h)
            else:
                # Sweep what the process left in its group (its pid cannot be
                # reused while group members remain).
                _signal_group(h, signal.SIGKILL)
        pending = still
        if not pending:
            break
        if not killed and time.monotonic() > deadline:
            for h in pending:
                _signal_group(h, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + grace_s
        elif killed and time.monotonic() > deadline:
            raise OSError(f"processes {[h.pid for h in pending]} did not exit after SIGKILL")
        time.sleep(0.02)


def kill_groups(handles: Iterable[ProcessHandle], timeout_s: float = 10.0) -> None:
    """SIGKILL whatever is left in the process group of each (dead or alive) process; wait until it is gone."""
    handles = list(handles)
    groups = [h.pid for h in handles]
    for h in handles:
        is_alive(h)  # reaps those that are our own children (a zombie leader keeps its group)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + timeout_s
    for h, pgid in zip(handles, groups):
        while time.monotonic() < deadline:
            is_alive(h)
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.02)


def served_pid(pid: int) -> int | None:
    """The process a restarter (``pid``) runs now: its child (Linux); None when it has none."""
    try:
        children = (_PROC / str(pid) / "task" / str(pid) / "children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
