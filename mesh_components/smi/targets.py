"""SMI TrafficTargets (`access.smi-spec.io` v1alpha1 to v1alpha3) as access policies.

Each TrafficTarget becomes one policy of the same name whose destination is an identity (a
ServiceAccount), as in SMI. Its HTTPRouteGroup rules become the policy's HTTP rules (the
matches it names), and its TCPRoutes its TCP ports. OSM ignored TrafficTargets it found
invalid (a destination in another namespace, no rules) and matches it could not find; importing
them as written would allow what OSM denied, so each of those is a problem here.
"""

from __future__ import annotations

from mesh_components.errors import Problem
from mesh_components.model import AccessPolicy, HttpRule, Identity, PolicyDestination
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, MISSING, Fields
from mesh_components.smi.routes import Routes

VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
_SUBJECT = ("kind", "name", "namespace")
_RULE = ("kind", "name", "matches")
_REASONS = {
    "port": (
        "per-port destinations are not supported: remove `port`, and limit TCP ports with a "
        "TCPRoute (HTTP ports are limited by the routes)"
    )
}


def policy_of(doc: Document, routes: Routes, problems: list[Problem]) -> AccessPolicy | None:
    """The policy for a TrafficTarget, or None when it has problems."""
    before = len(problems)
    spec = _spec(doc, problems)
    destination = spec.child("destination", _SUBJECT, True, _REASONS)
    target = None if destination is None else _subject(destination, doc.namespace, True)
    sources = [_subject(s, doc.namespace, False) for s in spec.entries("sources", _SUBJECT, True)]
    rules_key = "specs" if doc.api_version == "v1alpha1" else "rules"
    rules = spec.entries(rules_key, _RULE, required=True)
    http, tcp = _rules(rules, doc.namespace, routes)
    if not rules and rules_key in spec.raw:
        fix = "add the routes to allow (OSM ignored a TrafficTarget without rules)"
        spec.report(spec.at(rules_key), INVALID, "at least one rule", "none", fix)
    if len(problems) > before or target is None or None in sources:
        return None
    found = tuple(s for s in sources if s is not None)
    tcp_ports = () if tcp is None else tcp
    destination_ = PolicyDestination(identity=target)
    return AccessPolicy(
        doc.name, doc.namespace, destination_, found, http, tcp is not None, tcp_ports
    )


def _spec(doc: Document, problems: list[Problem]) -> Fields:
    """v1alpha1 keeps the target's fields at the top level; later versions under `spec`."""
    if doc.api_version == "v1alpha1":
        allowed = ("apiVersion", "kind", "metadata", "destination", "sources", "specs")
        return Fields(doc.body, doc.path, problems, allowed)
    raw = doc.body.get("spec")
    return Fields(raw, f"{doc.path}.spec", problems, ("destination", "sources", "rules"))


def _subject(subject: Fields, namespace: str, destination: bool) -> Identity | None:
    """A ServiceAccount by name and namespace; a destination's is the TrafficTarget's."""
    kind, name = subject.text("kind", required=True), subject.text("name", required=True)
    written = subject.text("namespace", required=True)
    if kind is not None and kind != "ServiceAccount":
        fix = "SMI identities are ServiceAccounts: name the ServiceAccount the pods run as"
        subject.report(subject.at("kind"), INVALID, "ServiceAccount", repr(kind), fix)
    if destination and written is not None and written != namespace:
        fix = "put the TrafficTarget in its destination's namespace (OSM ignored this one)"
        subject.report(subject.at("namespace"), INVALID, repr(namespace), repr(written), fix)
    if name is None or written is None:
        return None
    return Identity(written, name)


def _rules(
    rules: list[Fields], namespace: str, routes: Routes
) -> tuple[tuple[HttpRule, ...], tuple[int, ...] | None]:
    """The HTTP rules the target allows, and its TCP ports (None: no TCPRoute; (): all)."""
    http: list[HttpRule] = []
    tcp: list[tuple[int, ...]] = []
    for rule in rules:
        kind, name = rule.text("kind", required=True), rule.text("name", required=True)
        if kind == "HTTPRouteGroup" and name is not None:
            http.extend(_matches(rule, routes.http.get((namespace, name)), namespace, name))
        elif kind == "TCPRoute" and name is not None:
            tcp.extend(_tcp(rule, routes.tcp.get((namespace, name)), namespace, name))
        elif kind is not None:
            fix = "only HTTPRouteGroup and TCPRoute rules are supported"
            rule.report(rule.at("kind"), INVALID, "HTTPRouteGroup or TCPRoute", repr(kind), fix)
    ports = None if not tcp else () if () in tcp else tuple(sorted({p for t in tcp for p in t}))
    return tuple(dict.fromkeys(http)), ports


def _matches(
    rule: Fields, group: dict[str, HttpRule] | None, namespace: str, name: str
) -> list[HttpRule]:
    if group is None:
        _missing_route(rule, "HTTPRouteGroup", namespace, name)
        return []
    wanted = rule.items("matches", str, "match name")
    if not wanted:
        fix = f"list the matches of {name!r} to allow (OSM allowed none without a list)"
        found = "an empty list" if "matches" in rule.raw else "nothing"
        rule.report(rule.at("matches"), MISSING, "the names of matches to allow", found, fix)
    for index, match in enumerate(wanted):
        if match not in group:
            known = ", ".join(sorted(group)) or "none"
            fix = f"name one of the matches of HTTPRouteGroup {namespace}/{name}: {known}"
            at = f"{rule.at('matches')}[{index}]"
            rule.report(at, INVALID, "a match of the route group", repr(match), fix)
    return [group[match] for match in wanted if match in group]


def _tcp(
    rule: Fields, ports: tuple[int, ...] | None, namespace: str, name: str
) -> list[tuple[int, ...]]:
    if "matches" in rule.raw:
        fix = "remove `matches`: a TCPRoute is used whole"
        rule.report(rule.at("matches"), INVALID, "no matches on a TCPRoute rule", "a list", fix)
    if ports is None:
        _missing_route(rule, "TCPRoute", namespace, name)
        return []
    return [ports]


def _missing_route(rule: Fields, kind: str, namespace: str, name: str) -> None:
    fix = f"add the {kind} {name!r} to namespace {namespace!r} (rules name routes of their own)"
    rule.report(rule.at("name"), "smi-route-missing", f"a {kind} in {namespace}", repr(name), fix)
