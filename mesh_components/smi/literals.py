"""Plain data (dicts, lists, strings, numbers, booleans) as Python source, formatted the way a
person would: on one line when it fits, else one item per line with trailing commas.

Strings are written as JSON strings, which are valid Python literals with double quotes.
"""

from __future__ import annotations

import json

WIDTH = 100
INDENT = "    "


class Code(str):
    """Source text that `literal` writes as it is (an expression, not a string)."""

    __slots__ = ()


def literal(value: object, indent: str = "", column: int | None = None) -> str:
    """`value` as a Python expression whose first line starts at `column` (default: the
    indent's width) and whose other lines start at `indent`; a comma may follow it."""
    flat = _flat(value)
    start = len(indent) if column is None else column
    if start + len(flat) + 2 <= WIDTH or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + INDENT
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            written = _flat(key)
            lines.append(
                f"{inner}{written}: {literal(item, inner, len(inner) + len(written) + 2)},"
            )
        return "{\n" + "\n".join(lines) + f"\n{indent}}}"
    lines = [f"{inner}{literal(item, inner)}," for item in value]
    return "[\n" + "\n".join(lines) + f"\n{indent}]"


def _flat(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flat(item) for item in value) + "]"
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"not plain data: {type(value).__name__}")
