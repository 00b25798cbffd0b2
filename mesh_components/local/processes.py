"""Supervised processes: started in their own session, recorded in a pid file, stopped by pid.

A pid file holds the pid and the process's start time (from /proc), so a later `down`, in
another process, never signals a pid that the kernel has since given to someone else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), or None when it is gone
    (a zombie counts as gone: it runs nothing and holds nothing but its exit status)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until `pid` is gone; whether it is."""
    deadline = time.monotonic() + timeout
    while start_time(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def spawn(argv: Sequence[str], log: Path, pidfile: Path) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session, output appended to `log`, recorded in `pidfile`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record(process.pid, pidfile)
    return process


def record(pid: int, pidfile: Path) -> None:
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{pid} {start_time(pid) or '?'}\n")


def recorded(pidfile: Path) -> int | None:
    """The pid in `pidfile` if that very process still runs."""
    try:
        pid_text, started = pidfile.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if start_time(pid) == started else None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group `pid` leads (its session), falling back to the process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            os.kill(pid, sig)


def stop(process: subprocess.Popen[bytes], grace: float) -> int | None:
    """SIGTERM, then SIGKILL after `grace` seconds; the exit code."""
    if process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    signal_group(process.pid, signal.SIGKILL)  # Whatever the container left behind.
    return process.returncode


def kill_recorded(pidfile: Path) -> bool:
    """SIGKILL the recorded process group; whether it was still running."""
    pid = recorded(pidfile)
    if pid is None or pid == os.getpid():  # A cluster run in-process records its caller.
        return False
    signal_group(pid, signal.SIGKILL)
    wait_gone(pid, 5)
    return True
