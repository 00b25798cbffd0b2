"""YAML text as a reviewer reads it: block style, multi-line strings as literal blocks.

Every file we write goes through here, so the same value always gives the same bytes. The
emitter is libyaml's when PyYAML has it, else PyYAML's own. Documents of plain dicts, lists and
scalars take a fast path (`_FastWriter`) that writes the block structure itself and asks that
emitter how to spell each distinct scalar once; its output is byte-identical to the emitter's
(a property test and every golden file check it), and anything it is unsure of goes to the
emitter whole.
"""

from __future__ import annotations

import gc
from typing import Any

import yaml

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# The line width the emitter folds long scalars at, and its indent step.
WIDTH = 100
_STEP = "  "
# Distinct scalars remembered; the caches are cleared when they grow past this.
_CACHE_LIMIT = 200_000


class _Dumper(_Base):  # type: ignore[valid-type, misc]
    """A safe dumper that writes multi-line strings (scripts, embedded YAML) as `|` blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _string)


def dump(document: Any, *, sort_keys: bool) -> str:
    """`document` as block-style YAML; keys sorted, or in the order the emitter wrote them."""
    if type(document) is dict or type(document) is list:
        # The writer makes no reference cycles; without this, its short-lived lists set off
        # full collections over every live object of a large build (measured: up to 2x).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return _FastWriter(sort_keys).document(document)
        except _UnsupportedError:
            pass
        finally:
            if enabled:
                gc.enable()
    return _emitter_dump(document, sort_keys=sort_keys)


def _emitter_dump(document: Any, *, sort_keys: bool) -> str:
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, width=WIDTH
    )


class _UnsupportedError(Exception):
    """Something the fast path does not spell itself: the emitter writes the whole document."""


# How the emitter spells one scalar. A str is the scalar on one line (it never folds where it
# fits within WIDTH, and one without spaces never folds); a tuple is a literal block: its
# header (`|`, `|-`, `|2`) and its lines, unindented. None: the fast path gives up.
_Spelling = str | tuple[str, tuple[str, ...]] | None
_VALUES: dict[str, _Spelling] = {}
_KEYS: dict[str, str | None] = {}
_OTHERS: dict[tuple[type, str], str] = {}


def _value_spelling(value: str) -> _Spelling:
    found = _VALUES.get(value, _UnsupportedError)
    if found is not _UnsupportedError:
        return found  # type: ignore[return-value]
    if len(_VALUES) > _CACHE_LIMIT:
        _VALUES.clear()
    text = _emitter_dump([value], sort_keys=False)
    lines = text.split("\n")[:-1]
    spelling: _Spelling = None
    if len(lines) == 1:
        spelling = lines[0][2:]
    elif lines[0].startswith("- |") and "+" not in lines[0]:
        body = tuple(line[2:] for line in lines[1:])
        if all(line.startswith(_STEP) or not line for line in lines[1:]):
            spelling = (lines[0][2:], body)
    _VALUES[value] = spelling
    return spelling


def _key_spelling(key: str) -> str | None:
    found = _KEYS.get(key, _UnsupportedError)
    if found is not _UnsupportedError:
        return found  # type: ignore[return-value]
    if len(_KEYS) > _CACHE_LIMIT:
        _KEYS.clear()
    text = _emitter_dump({key: None}, sort_keys=False)
    spelling = text[: -len(": null\n")] if text.count("\n") == 1 else None
    if spelling is not None and (spelling.startswith("? ") or not text.endswith(": null\n")):
        spelling = None
    _KEYS[key] = spelling
    return spelling


def _other_spelling(value: Any) -> str:
    """Floats (and anything else the emitter writes on one line): asked once per value."""
    key = (type(value), repr(value))
    found = _OTHERS.get(key)
    if found is None:
        lines = _emitter_dump([value], sort_keys=False).split("\n")[:-1]
        if len(lines) != 1:
            raise _UnsupportedError
        found = _OTHERS[key] = lines[0][2:]
    return found


def _scalar(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is float:
        return _other_spelling(value)
    raise _UnsupportedError


class _FastWriter:
    """Block-style YAML of plain dicts, lists and scalars, spelled as the emitter spells them:
    mappings indented by two, sequences in a mapping not indented, empty collections as `{}`
    and `[]`, an object seen twice (an alias for the emitter) given up on."""

    def __init__(self, sort_keys: bool) -> None:
        self.sort_keys = sort_keys
        self.out: list[str] = []
        self.seen: set[int] = set()

    def document(self, root: dict[str, Any] | list[Any]) -> str:
        if not root:
            return "{}\n" if isinstance(root, dict) else "[]\n"
        if isinstance(root, dict):
            self.mapping(root, 0, "")
        else:
            self.sequence(root, 0, "")
        return "".join(self.out)

    def _once(self, container: object) -> None:
        if id(container) in self.seen:
            raise _UnsupportedError
        self.seen.add(id(container))

    def mapping(self, mapping: dict[Any, Any], indent: int, first: str) -> None:
        """Each key at `indent`; the first line starts with `first` (a sequence's dash)."""
        self._once(mapping)
        pad = " " * indent
        keys = mapping.keys()
        if self.sort_keys:
            try:
                keys = sorted(keys)  # type: ignore[assignment]
            except TypeError as error:
                raise _UnsupportedError from error
        for key in keys:
            if type(key) is not str:
                raise _UnsupportedError
            spelled = _KEYS.get(key) or _key_spelling(key)
            if spelled is None:
                raise _UnsupportedError
            self.entry(f"{first}{spelled}:", mapping[key], indent, pad)
            first = pad

    def sequence(self, items: list[Any], indent: int, first: str) -> None:
        """Each item at `indent` after a dash; the first line starts with `first`."""
        self._once(items)
        pad = " " * indent
        for item in items:
            self.entry(f"{first}-", item, indent + 2, pad + _STEP)
            first = pad

    def entry(self, head: str, value: Any, indent: int, pad: str) -> None:
        """`head` (a key and colon, or a dash) then `value`: on the same line when it is a
        scalar or an empty collection, else nested below."""
        kind = type(value)
        if kind is str:
            self.string(head, value, pad)
        elif kind is dict or kind is list:
            self.collection(head, value, indent, pad)
        else:
            self.out.append(f"{head} {_scalar(value)}\n")

    def collection(self, head: str, value: Any, indent: int, pad: str) -> None:
        """A sequence item's collection starts on the dash's line; a mapping's sequence is
        not indented, its mapping is."""
        if not value:
            self._once(value)
            self.out.append(head + (" {}\n" if type(value) is dict else " []\n"))
        elif head[-1] == "-":
            write = self.mapping if type(value) is dict else self.sequence
            write(value, indent, head + " ")
        else:
            self.out.append(head + "\n")
            if type(value) is dict:
                self.mapping(value, indent + 2, pad + _STEP)
            else:
                self.sequence(value, indent, pad)

    def string(self, head: str, value: str, pad: str) -> None:
        spelled = _VALUES.get(value) or _value_spelling(value)
        if isinstance(spelled, str):
            if " " in spelled and len(head) + 1 + len(spelled) > WIDTH:
                raise _UnsupportedError  # the emitter may fold it here
            self.out.append(f"{head} {spelled}\n")
        elif spelled is None:
            raise _UnsupportedError
        else:
            header, lines = spelled
            block = pad + _STEP if head[-1] != "-" else pad
            self.out.append(f"{head} {header}\n")
            self.out.extend(f"{block}{line}\n" if line else "\n" for line in lines)
