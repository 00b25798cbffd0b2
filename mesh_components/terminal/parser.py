"""How every verb of the command line is declared: a help line, an example that runs, and the
same output option everywhere.

    -o/--output table|json|yaml   verbs that print a report (validate, proxy-config, ...)
    -o/--output PATH              verbs that write files (compile, render, import, graph)

A mistake in the command line itself is one paragraph saying what was wrong and where to find
an example, never a usage dump.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeAlias

from mesh_components.terminal.console import FORMATS, show_error
from mesh_components.terminal.redact import printable
from mesh_components.validate._common import is_dns_label

EXIT_USAGE = 2
PROGRAM = "python -m mesh_components"
"""How examples spell the program: it works wherever the package is installed."""


class MeshParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one paragraph pointing at `--help`."""

    def error(self, message: str) -> NoReturn:
        show_error(
            f"error: {self.prog}: {message}. Run `{self.prog} --help` for its options and an "
            "example."
        )
        sys.exit(EXIT_USAGE)


Commands: TypeAlias = "argparse._SubParsersAction[MeshParser]"


def add_verb(
    commands: Commands, name: str, summary: str, examples: str, *, details: str = ""
) -> MeshParser:
    """A verb with a one-line `summary` (in the main help too), optional `details` under it,
    and `examples` (lines of commands, `#` comments allowed) at the end of its help."""
    description = f"{summary}\n\n{details.strip()}" if details else summary
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{_indented(examples)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _indented(text: str) -> str:
    lines = text.strip("\n").splitlines()
    return "\n".join(f"  {line}" if line else "" for line in lines) + "\n"


def add_output_format(
    parser: argparse.ArgumentParser,
    choices: tuple[str, ...] = FORMATS,
    *,
    problems_as_data: bool = True,
) -> None:
    """`-o/--output FORMAT` for a verb that prints a report; the first choice is the default.
    With `problems_as_data`, `-o json|yaml` also prints invalid input's problems on stdout, as
    data (not for a verb whose stdout is meant for another tool, such as `inject`)."""
    parser.add_argument(
        "-o",
        "--output",
        default=choices[0],
        choices=choices,
        help=f"how to print it: {', '.join(choices)} (default: %(default)s)",
    )
    parser.set_defaults(problems_as_data=problems_as_data)


def add_namespace_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`-n/--namespace NS`, as `kubectl apply -n`: where the objects that name none go."""
    parser.add_argument(
        "-n",
        "--namespace",
        type=_namespace,
        metavar="NS",
        help="the namespace of the objects that name none (default: default), as kubectl -n",
    )


def _namespace(text: str) -> str:
    if not is_dns_label(text):
        raise argparse.ArgumentTypeError(
            f"{printable(text)!r} is not a namespace name: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63"
        )
    return text


def add_output_path(parser: argparse.ArgumentParser, what: str, *, required: bool = True) -> None:
    """`-o/--output PATH` for a verb that writes files."""
    parser.add_argument("-o", "--output", type=Path, required=required, metavar="PATH", help=what)


def number_within(highest: float, unit: str, *, positive: bool = False) -> Callable[[str], float]:
    """An argparse type: a number of `unit` from 0 (above 0 when `positive`) to `highest`.
    Anything else (a word, nan, inf, a number out of range) is one line from argparse."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            found = f"expected a number of {unit}, found {text!r}"
            raise argparse.ArgumentTypeError(found) from None
        if not (value > 0 if positive else value >= 0) or not value <= highest:  # nan fails
            lowest = "above 0" if positive else "from 0"
            found = f"expected {unit} {lowest} to {highest:g}, found {text!r}"
            raise argparse.ArgumentTypeError(found)
        return value

    return number
