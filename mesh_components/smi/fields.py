"""Strict reading of one mapping of an imported object: every read checks a type, and every key
this importer cannot honour is a problem that names it (never a silently dropped field).

Paths name the object first, as `TrafficTarget[bookstore/bookstore].spec.rules[0].kind`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard, TypeVar

from mesh_components.errors import Problem

T = TypeVar("T")

UNSUPPORTED = "smi-field-unsupported"
WRONG_TYPE = "smi-wrong-type"
MISSING = "smi-missing-field"
INVALID = "smi-invalid-value"


class Fields:
    """One mapping at `path`. Unknown keys are reported when it is made, with `reasons[key]`
    (why a known field cannot be honoured) as the fix when there is one.

    `raw` may be what the input holds where a mapping belongs: null is an empty mapping (as
    Kubernetes reads it), and anything else is reported and read as an empty mapping whose
    missing fields go unreported (the one problem is that it is no mapping)."""

    def __init__(
        self,
        raw: object,
        path: str,
        problems: list[Problem],
        allowed: Iterable[str],
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        self.path, self.problems = path, problems
        self.raw: Mapping[Any, object] = raw if isinstance(raw, Mapping) else {}
        self.wrong = raw is not None and not isinstance(raw, Mapping)
        if self.wrong:
            self.report(path, WRONG_TYPE, "a mapping", describe(raw), "make it a mapping")
        allowed = tuple(allowed)
        for key in self.raw:
            if key not in allowed:
                fix = (reasons or {}).get(str(key), "remove it")
                expected = f"only {', '.join(allowed)}" if allowed else "no fields"
                self.report(self.at(str(key)), UNSUPPORTED, expected, repr(key), fix)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def report(self, path: str, code: str, expected: str, found: str, fix: str = "") -> None:
        self.problems.append(Problem(path, code, expected, found, fix))

    def read(self, key: str, kind: type[T], expected: str, required: bool = False) -> T | None:
        """The value at `key` if it has type `kind` (a bool is never a number), else None."""
        if key not in self.raw:
            if required and not self.wrong:
                self.report(self.at(key), MISSING, expected, "nothing", f"add {key!r}")
            return None
        value = self.raw[key]
        if is_a(value, kind):
            return value
        self.report(self.at(key), WRONG_TYPE, expected, describe(value), f"make {key!r} {expected}")
        return None

    def text(self, key: str, required: bool = False) -> str | None:
        return self.read(key, str, "a string", required)

    def number(self, key: str, required: bool = False) -> int | None:
        return self.read(key, int, "an integer", required)

    def child(
        self,
        key: str,
        allowed: Iterable[str],
        required: bool = False,
        reasons: Mapping[str, str] | None = None,
    ) -> Fields | None:
        value = self.read(key, dict, "a mapping", required)
        if value is None:
            return None
        return Fields(value, self.at(key), self.problems, allowed, reasons)

    def entries(
        self,
        key: str,
        allowed: Iterable[str],
        required: bool = False,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Fields]:
        """The mappings listed at `key`, each at `key[index]`."""
        allowed = tuple(allowed)
        found: list[Fields] = []
        for index, item in enumerate(self.read(key, list, "a list", required) or []):
            at = f"{self.at(key)}[{index}]"
            if isinstance(item, dict):
                found.append(Fields(item, at, self.problems, allowed, reasons))
            else:
                self.report(at, WRONG_TYPE, "a mapping", describe(item), "make it a mapping")
        return found

    def items(self, key: str, kind: type[T], expected: str, required: bool = False) -> list[T]:
        """The list at `key`, reporting (and leaving out) elements that are not `kind`."""
        values = self.read(key, list, f"a list of {expected}s", required) or []
        for index, value in enumerate(values):
            if not is_a(value, kind):
                at = f"{self.at(key)}[{index}]"
                self.report(
                    at, WRONG_TYPE, f"a {expected}", describe(value), f"make it a {expected}"
                )
        return [value for value in values if is_a(value, kind)]


def is_a(value: object, kind: type[T]) -> TypeGuard[T]:
    """`isinstance`, except that a YAML boolean is never an integer."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def describe(value: object) -> str:
    """A value as a problem's `found`: its type, and the value when it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    kinds = {int: "integer", float: "number", str: "string"}
    return f"{kinds.get(type(value), type(value).__name__)} {reprlib.repr(value)}"


def service_in(written: str, namespace: str) -> str | None:
    """The Service name in `name`, `name.namespace` or `name.namespace.svc[...]` (how OSM's
    resources name a Service of their own namespace), or None when it names another one."""
    name, *rest = written.split(".")
    if rest and (rest[0] != namespace or rest[1:2] not in ([], ["svc"])):
        return None
    return name
