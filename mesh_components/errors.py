"""The one exception a user's mistake raises, and the problems it carries.

    MeshError                  base of everything this library raises on purpose
    └── MeshValidationError    the declaration is invalid; `.problems` lists every problem

Each problem has a stable `code` (tests assert codes, not wording), a `path` to the offending
field, what was expected, what was found, and a fix when one exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    """One thing wrong with a declaration."""

    path: str
    code: str
    expected: str
    found: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: [{self.code}] expected {self.expected}, found {self.found}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


class MeshError(Exception):
    """Base class of the errors this library raises on purpose."""


class MeshValidationError(MeshError):
    """The declaration is invalid. `problems` holds every problem found, sorted by path."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        count = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the mesh declaration:\n{lines}"
        )

    @property
    def codes(self) -> tuple[str, ...]:
        """The problem codes, sorted and without repeats (handy in tests)."""
        return tuple(sorted({p.code for p in self.problems}))
