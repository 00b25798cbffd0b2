"""A strict reader of Prometheus' text exposition format (version 0.0.4), for tests.

Every line must be a `# HELP`, a `# TYPE`, another `# ` comment, a sample or empty; a metric
family's HELP and TYPE come at most once (Prometheus refuses a second TYPE line); the text ends
with a newline. A bad line fails the test, naming its number and text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
_SAMPLE = re.compile(rf"({_NAME})(\{{(?:{_LABEL}(?:,{_LABEL})*,?)?\}})? ({_VALUE})(?: -?[0-9]+)?")
_HELP = re.compile(rf"# HELP ({_NAME})(?: .*)?")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (?:counter|gauge|histogram|summary|untyped)")


@dataclass(frozen=True, slots=True)
class Exposition:
    """What a page holds: its samples' metric names and its comment lines (not HELP/TYPE)."""

    names: frozenset[str]
    comments: tuple[str, ...]


def parsed(text: str) -> Exposition:
    """The page, read strictly; AssertionError at the first line Prometheus would refuse."""
    assert text == "" or text.endswith("\n"), "the page does not end with a newline"
    names: set[str] = set()
    comments: list[str] = []
    declared: set[tuple[str, str]] = set()
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith(("# HELP ", "# TYPE ")):
            match = (_HELP if line.startswith("# HELP") else _TYPE).fullmatch(line)
            assert match is not None, f"line {number}: bad {line[2:6]} line: {line!r:.200}"
            key = (line[2:6], match.group(1))
            assert key not in declared, f"line {number}: a second {key[0]} for {key[1]}"
            declared.add(key)
        elif line.startswith("#"):
            comments.append(line)
        elif line:
            match = _SAMPLE.fullmatch(line)
            assert match is not None, f"line {number}: not a sample: {line!r:.200}"
            names.add(match.group(1))
    return Exposition(frozenset(names), tuple(comments))
