"""Plain aligned text tables, as `kubectl get` prints them: the same bytes on a TTY or in a pipe.

A cell may hold several lines (a list); the row then grows and the other cells stay on its
first line.
"""

from __future__ import annotations

from collections.abc import Sequence

Cell = str | Sequence[str]

_GAP = "  "


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """The table as text, one header line then each row; trailing spaces trimmed."""
    grid = [[_lines(cell) for cell in row] for row in [list(headers), *rows]]
    widths = [
        max(len(line) for row in grid for line in row[i] or [""]) for i in range(len(headers))
    ]
    out = []
    for row in grid:
        height = max(len(cell) for cell in row) or 1
        for index in range(height):
            parts = [
                (cell[index] if index < len(cell) else "").ljust(w)
                for cell, w in zip(row, widths, strict=True)
            ]
            out.append(_GAP.join(parts).rstrip())
    return "\n".join(out)


def _lines(cell: Cell) -> list[str]:
    if isinstance(cell, str):
        return [cell] if cell else []
    return [str(line) for line in cell]
