"""Mistakes in a program's mesh declarations, reported the way Pulumi reports a clean failure.

`pulumi.RunError` ends the program with its message and no traceback, which is what a user's
mistake deserves: the message names the field, what was expected, what was found and the fix.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pulumi

from mesh_components.errors import MeshValidationError


class MeshProgramError(pulumi.RunError):
    """The mesh's problems in a Pulumi program; `problems` holds them, as MeshValidationError."""

    def __init__(self, error: MeshValidationError) -> None:
        super().__init__(str(error))
        self.problems = error.problems

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(problem.code for problem in self.problems)


@contextmanager
def reported() -> Iterator[None]:
    """Turn a MeshValidationError raised inside into a MeshProgramError."""
    try:
        yield
    except MeshValidationError as error:
        raise MeshProgramError(error) from None
