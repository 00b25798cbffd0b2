"""How a long stage reports progress without knowing who listens: a hook called with
`(stage, done, total)` after each item (total 0: unknown length). The CLI draws it as a
progress bar on a terminal (`console.progress`); everyone else passes `silent`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

ProgressHook = Callable[[str, int, int], None]

T = TypeVar("T")


def silent(stage: str, done: int, total: int) -> None:
    """The hook that reports nothing."""


def counted(items: Sequence[T], stage: str, hook: ProgressHook) -> Iterator[T]:
    """Yield `items`, reporting each one as done once the caller asks for the next."""
    total = len(items)
    for done, item in enumerate(items):
        yield item
        hook(stage, done + 1, total)
