"""SMI TrafficSplits (`split.smi-spec.io` v1alpha1 to v1alpha4) as the mesh's splits.

`spec.service` may be `name`, `name.namespace` (as OSM's demo writes it) or the Service's DNS
name; its namespace must be the split's. v1alpha1 weights are Kubernetes quantities (`500m`):
they are scaled to the smallest whole numbers in the same proportions. The route matches of
v1alpha3 and later (a split per HTTP route) are not supported, and are a problem.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from mesh_components.errors import Problem
from mesh_components.model import SplitBackend, TrafficSplit
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, Fields, describe, service_in

VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
_REASONS = {
    "matches": (
        "route-based splits are not supported: remove `matches` to split all of the root's "
        "traffic, or give the routes their own root Service"
    )
}
_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|([KMGTPE]i|[numkMGTPE]))?")
_SUFFIXES = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    **{f"{s}i": Fraction(1024**i) for i, s in enumerate("KMGTPE", start=1)},
}


def split_of(doc: Document, problems: list[Problem]) -> TrafficSplit | None:
    """The mesh's split for a TrafficSplit, or None when it has problems."""
    before = len(problems)
    spec = Fields(
        doc.body.get("spec"), f"{doc.path}.spec", problems, ("service", "backends"), _REASONS
    )
    root = _root(spec, doc.namespace)
    entries = spec.entries("backends", ("service", "weight"), required=True)
    names = [entry.text("service", required=True) for entry in entries]
    weights = _weights(entries, quantities=doc.api_version == "v1alpha1")
    if len(problems) > before or root is None:
        return None
    backends = tuple(SplitBackend(n, w) for n, w in zip(names, weights, strict=True) if n)
    return TrafficSplit(doc.name, doc.namespace, root, backends)


def _root(spec: Fields, namespace: str) -> str | None:
    """The root Service's name from `name`, `name.namespace` or `name.namespace.svc[...]`."""
    written = spec.text("service", required=True)
    if written is None:
        return None
    name = service_in(written, namespace)
    if name is None:
        expected = f"a Service of the split's namespace: name, or name.{namespace}"
        fix = "a split and its services share one namespace: move the split, or fix the name"
        spec.report(spec.at("service"), INVALID, expected, repr(written), fix)
        return None
    return name


def _weights(entries: list[Fields], *, quantities: bool) -> list[int]:
    """Whole weights; v1alpha1 quantities scaled by the smallest factor that makes them whole."""
    read = [_quantity(entry) if quantities else entry.number("weight", True) for entry in entries]
    if quantities:
        scale = math.lcm(*(value.denominator for value in read if isinstance(value, Fraction)))
        return [int(value * scale) if isinstance(value, Fraction) else 0 for value in read]
    return [value if isinstance(value, int) else 0 for value in read]


def _quantity(entry: Fields) -> Fraction | None:
    """A v1alpha1 weight: a Kubernetes quantity (`1`, `500m`, `0.5`, `1e3`) or a number."""
    value = entry.raw.get("weight")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Fraction(str(value))
    match = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        found = "nothing" if value is None else describe(value)
        fix = "write a quantity such as 1, 500m or 0.5"
        entry.report(entry.at("weight"), INVALID, "a Kubernetes quantity", found, fix)
        return None
    number, exponent, suffix = match.groups()
    scale = (
        Fraction(10) ** int(exponent[1:]) if exponent else _SUFFIXES.get(suffix or "", Fraction(1))
    )
    return Fraction(number) * scale
