"""Threads that live in another network namespace (Python 3.11 has no os.setns).

`setns(CLONE_NEWNET)` moves only the calling thread, and a socket stays in the namespace where
it was made. So a thread pool whose threads join the node namespace can probe pods and serve
DNS from there, while the rest of the runner stays in the host's namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def enter(netns: Path) -> None:
    """Move the calling thread into the network namespace at `netns`."""
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns {netns}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def executor(netns: Path, workers: int, name: str) -> ThreadPoolExecutor:
    """A pool whose every thread runs inside `netns`."""
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=name, initializer=enter, initargs=(netns,)
    )
