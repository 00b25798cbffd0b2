"""A time limit for one call in a test: SIGALRM raises TimeoutError in the main thread."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: int, what: object) -> Iterator[None]:
    """Give up on the block, as a failure naming `what`, after `seconds`."""

    def expire(_signal: int, _frame: object) -> None:
        raise TimeoutError(f"{what} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
