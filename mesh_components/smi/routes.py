"""SMI route specs (`specs.smi-spec.io` v1alpha1 to v1alpha4): HTTPRouteGroups become HTTP rules
by match name, TCPRoutes become TCP ports. TrafficTargets then pick them by name.

As in OSM: a match's `pathRegex` is an RE2 regex on the whole path (none: any path), `*` among
its methods allows any method, and each header maps a name to a regex on its whole value. Header
names are matched in lowercase. OSM turned a `host` header into a match on the request's
authority, which a policy rule here cannot express, so it is a problem. HTTPRouteGroups of
v1alpha1 and v1alpha2 keep `matches` at the top level, later versions under `spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh_components.errors import Problem
from mesh_components.model import HeaderMatch, HttpRule, PathMatch, PathMatchKind
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, Fields

VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")
_MATCH = ("name", "pathRegex", "methods", "headers")
_AUTHORITY_HEADERS = ("host", ":authority")
RouteKey = tuple[str, str]
"""A route spec by (namespace, name)."""


@dataclass
class Routes:
    """Every route spec of the input, by namespace and name."""

    http: dict[RouteKey, dict[str, HttpRule]] = field(default_factory=dict)
    tcp: dict[RouteKey, tuple[int, ...]] = field(default_factory=dict)


def add_route_group(doc: Document, routes: Routes, problems: list[Problem]) -> None:
    """Index an HTTPRouteGroup's matches by name."""
    top_level = doc.api_version in ("v1alpha1", "v1alpha2")
    raw = doc.body if top_level else doc.body.get("spec")
    path = doc.path if top_level else f"{doc.path}.spec"
    allowed = ("apiVersion", "kind", "metadata", "matches") if top_level else ("matches",)
    holder = Fields(raw, path, problems, allowed)
    rules: dict[str, HttpRule] = {}
    for entry in holder.entries("matches", _MATCH, required=True):
        name, rule = entry.text("name", required=True), _rule(entry)
        if name is not None and name in rules:
            expected, fix = "one match of each name", "rename one of them"
            entry.report(entry.at("name"), INVALID, expected, repr(name), fix)
        if name is not None and rule is not None:
            rules[name] = rule
    routes.http[(doc.namespace, doc.name)] = rules


def add_tcp_route(doc: Document, routes: Routes, problems: list[Problem]) -> None:
    """Index a TCPRoute's ports (none listed: every TCP port)."""
    spec = Fields(doc.body.get("spec"), f"{doc.path}.spec", problems, ("matches",))
    matches = spec.child("matches", ("ports",))
    ports = () if matches is None else tuple(matches.items("ports", int, "port number"))
    routes.tcp[(doc.namespace, doc.name)] = ports


def _rule(entry: Fields) -> HttpRule | None:
    regex = entry.text("pathRegex")
    methods = entry.items("methods", str, "string")
    headers = _headers(entry)
    if headers is None:
        return None
    path = PathMatch(PathMatchKind.REGEX, regex) if regex else None
    return HttpRule(path, () if "*" in methods else tuple(methods), headers)


def _headers(entry: Fields) -> tuple[HeaderMatch, ...] | None:
    """`headers` as a mapping, or as OSM's list of one-entry mappings."""
    value = entry.raw.get("headers", {})
    pairs = _header_pairs(value)
    if pairs is None:
        expected = "a mapping of header names to regexes, or a list of such mappings"
        entry.report(entry.at("headers"), INVALID, expected, repr(value)[:60], "")
        return None
    for name, _ in pairs:
        if name.lower() in _AUTHORITY_HEADERS:
            fix = "match the service by calling it by name instead (one Service per host)"
            at = entry.at(f"headers[{name}]")
            entry.report(at, INVALID, "a header other than host", repr(name), fix)
            return None
    return tuple(
        HeaderMatch(name, regex) for name, regex in sorted((n.lower(), r) for n, r in pairs)
    )


def _header_pairs(value: object) -> list[tuple[str, str]] | None:
    mappings = value if isinstance(value, list) else [value]
    pairs = [pair for m in mappings if isinstance(m, dict) for pair in m.items()]
    if not all(isinstance(m, dict) for m in mappings):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        return None
    return pairs
