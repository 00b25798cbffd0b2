"""How the command line's output looks: `rich` tables, colour and progress bars on a terminal,
plain text everywhere else.

Output is styled only when its stream is a terminal (and TERM is not `dumb`). In a pipe or a
file it is plain aligned text, byte for byte what goldens and scripts read. NO_COLOR (any
non-empty value, https://no-color.org) keeps a terminal's tables and drops the colour. A report
is built once, as blocks (paragraphs and `Table`s), and drawn by whichever renderer fits.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeAlias

from rich import box
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from mesh_components import yamltext
from mesh_components.pipeline.progress import ProgressHook, silent
from mesh_components.terminal.redact import printable, redact

Cell = str | Sequence[str]
"""A table cell: one line, or several (the row grows; other cells stay on its first line)."""

Highlight = tuple[str, str]
"""(regex, rich style): how a terminal colours matching text of a paragraph."""

FORMATS = ("table", "json", "yaml")
"""`-o/--output` of every verb that prints a report."""

MIN_PROGRESS_ITEMS = 25
"""A stage with fewer items is over before a progress bar would help."""

_GAP = "  "


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under headers; `title` is a line above. `plain_text`, when set, is what a pipe gets
    instead of the aligned table (kept byte-stable for scripts written against it)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    title: str = ""
    plain_text: str | None = None

    def plain(self) -> str:
        if self.plain_text is not None:
            return self.plain_text
        text = table(self.headers, self.rows)
        return f"{self.title}\n{text}" if self.title else text


Block: TypeAlias = "str | Table"


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A plain aligned table, as `kubectl get` prints it: one header line then each row,
    trailing spaces trimmed."""
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


def plain(blocks: Sequence[Block]) -> str:
    """The blocks as a pipe gets them: separated by a blank line."""
    return "\n\n".join(b if isinstance(b, str) else b.plain() for b in blocks)


def is_terminal(stream: IO[str]) -> bool:
    """Whether `stream` gets styled output."""
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return isatty is not None and isatty() and os.environ.get("TERM") != "dumb"


def terminal(stream: IO[str]) -> Console:
    """A rich console on `stream`, as a terminal; colourless under NO_COLOR."""
    return Console(
        file=stream,
        force_terminal=True,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        markup=False,
        emoji=False,
    )


def show(
    blocks: Sequence[Block], highlights: Sequence[Highlight] = (), stream: IO[str] | None = None
) -> None:
    """Print a report: rich tables and colours on a terminal, plain text otherwise."""
    out = stream or sys.stdout
    if not is_terminal(out):
        print(printable(plain(blocks)), file=out)
        return
    console = terminal(out)
    for index, block in enumerate(blocks):
        if index:
            console.print()
        if isinstance(block, Table):
            _print_table(console, block)
        else:
            console.print(_styled(block, highlights), soft_wrap=True)


def _print_table(console: Console, block: Table) -> None:
    if block.title:
        console.print(Text(block.title, style="bold"))
    shown = RichTable(
        box=box.SIMPLE_HEAD, header_style="bold cyan", pad_edge=False, show_edge=False
    )
    for header in block.headers:
        shown.add_column(header, overflow="fold")
    for row in block.rows:
        shown.add_row(*(Text(printable("\n".join(_lines(cell)))) for cell in row))
    console.print(shown)


def _styled(text: str, highlights: Sequence[Highlight]) -> Text:
    styled = Text(printable(text))
    for pattern, style in highlights:
        styled.highlight_regex(pattern, style)
    return styled


def show_data(data: Any, output: str, stream: IO[str] | None = None) -> None:
    """`data` as JSON or YAML (sorted keys); a terminal gets JSON coloured, same text."""
    out = stream or sys.stdout
    plain_data = json.loads(json.dumps(data, default=str))
    if output == "json":
        text = json.dumps(plain_data, indent=2, sort_keys=True)
        if is_terminal(out):
            terminal(out).print(JSONHighlighter()(Text(text)), soft_wrap=True)
            return
        print(text, file=out)
    else:
        print(yamltext.dump(plain_data, sort_keys=True), end="", file=out)


ERROR_HIGHLIGHTS: tuple[Highlight, ...] = (
    (r"^error:", "bold red"),
    (r"^\d+ problems? [^\n]*:", "bold red"),
    (r"\[[a-z0-9-]+\]", "yellow"),
    (r"Fix:", "bold green"),
)


def show_error(message: str, stream: IO[str] | None = None) -> None:
    """An error paragraph on stderr, its code and fix coloured on a terminal; a secret in it
    is redacted, and control bytes are escaped."""
    out = stream or sys.stderr
    message = redact(message)
    if is_terminal(out):
        terminal(out).print(_styled(message, ERROR_HIGHLIGHTS), soft_wrap=True)
    else:
        print(printable(message), file=out)


@contextmanager
def progress(stream: IO[str] | None = None) -> Iterator[ProgressHook]:
    """A progress hook drawing one bar per stage on a terminal's stderr (transient: gone once
    done), for stages of at least MIN_PROGRESS_ITEMS items or of unknown length (total 0).
    Elsewhere the hook does nothing."""
    err = stream or sys.stderr
    if not is_terminal(err):
        yield silent
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=terminal(err),
        transient=True,
        # Prints to stdout go above the bars only when stdout is this terminal too; a piped
        # stdout must not end up on stderr.
        redirect_stdout=is_terminal(sys.stdout),
        redirect_stderr=True,
    )
    tasks: dict[str, TaskID] = {}

    def hook(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            if 0 < total < MIN_PROGRESS_ITEMS:
                return
            if not tasks:
                bars.start()
            tasks[stage] = bars.add_task(stage, total=total or None)
        bars.update(tasks[stage], completed=done)

    try:
        yield hook
    finally:
        if tasks:
            bars.stop()
