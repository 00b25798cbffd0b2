"""`diff`: what changes between two meshes, per workload, in proxy terms.

Routes and weights, clusters, filter chains, RBAC policies (principals and request rules) and,
for render directories, the certificates that rotate. Anything else that differs in a section
is reported as such, never hidden.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from mesh_components.inspect import facts
from mesh_components.inspect.facts import PolicyFact, RouteFact
from mesh_components.inspect.model import InspectedMesh, Proxy

T = TypeVar("T")


class Op(enum.StrEnum):
    ADDED = "+"
    REMOVED = "-"
    CHANGED = "~"


class Kind(enum.StrEnum):
    ROUTES = "routes"
    CLUSTERS = "clusters"
    CHAINS = "chains"
    POLICIES = "policies"
    CERTIFICATES = "certificates"
    OTHER = "other"


@dataclass(frozen=True, order=True, slots=True)
class Change:
    kind: Kind
    subject: str
    op: Op
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadDiff:
    workload: str
    status: Op
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class MeshDiff:
    workloads: tuple[WorkloadDiff, ...]
    mesh_changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.workloads and not self.mesh_changes


def diff(old: InspectedMesh, new: InspectedMesh) -> MeshDiff:
    """Every difference, workloads sorted, changes sorted by kind and subject."""
    refs = sorted(set(old.workloads()) | set(new.workloads()))
    found = []
    for ref in refs:
        before, after = old.proxy(ref), new.proxy(ref)
        if before is None or after is None:
            status = Op.ADDED if before is None else Op.REMOVED
            found.append(WorkloadDiff(str(ref), status, ()))
            continue
        changes = tuple(sorted(workload_changes(before, after)))
        if changes:
            found.append(WorkloadDiff(str(ref), Op.CHANGED, changes))
    return MeshDiff(tuple(found), tuple(_ca_changes(old, new)))


def workload_changes(old: Proxy, new: Proxy) -> list[Change]:
    semantic = [
        *_keyed(Kind.ROUTES, _all_routes(old), _all_routes(new), _route_change),
        *_keyed(Kind.CLUSTERS, facts.clusters(old), facts.clusters(new), _fields_change),
        *_keyed(Kind.CHAINS, facts.chains(old), facts.chains(new), _text_change),
        *_policy_changes(facts.policies(old), facts.policies(new)),
    ]
    others = _other_changes(old, new, {change.kind for change in semantic})
    return [*semantic, *_certificate_changes(old, new), *others]


def _all_routes(proxy: Proxy) -> dict[str, RouteFact]:
    return {**facts.routes(proxy), **facts.tcp_routes(proxy)}


def _keyed(
    kind: Kind,
    old: Mapping[str, T],
    new: Mapping[str, T],
    describe: Callable[[T, T], str],
) -> Iterator[Change]:
    for key in sorted(set(old) | set(new)):
        if key not in old:
            yield Change(kind, key, Op.ADDED, _summary(new[key]))
        elif key not in new:
            yield Change(kind, key, Op.REMOVED, _summary(old[key]))
        elif old[key] != new[key]:
            yield Change(kind, key, Op.CHANGED, describe(old[key], new[key]))


def _summary(value: object) -> str:
    if isinstance(value, RouteFact):
        return _targets(value) or value.action
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _targets(route: RouteFact) -> str:
    return ", ".join(name if w is None else f"{name} weight {w}" for name, w in route.targets)


def _route_change(old: RouteFact, new: RouteFact) -> str:
    parts = []
    if old.targets != new.targets:
        parts.append(_weights_change(old, new))
    if old.domains != new.domains:
        added = sorted(set(new.domains) - set(old.domains))
        removed = sorted(set(old.domains) - set(new.domains))
        parts.append(f"domains +{added} -{removed}")
    if old.action != new.action:
        parts.append(f"route options {old.action} -> {new.action}")
    return "; ".join(parts)


def _weights_change(old: RouteFact, new: RouteFact) -> str:
    before, after = dict(old.targets), dict(new.targets)
    parts = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            parts.append(f"+{name}" + (f" weight {after[name]}" if after[name] is not None else ""))
        elif name not in after:
            parts.append(f"-{name}")
        elif before[name] != after[name]:
            parts.append(f"{name} weight {before[name]} -> {after[name]}")
    return ", ".join(parts)


def _fields_change(old: dict[str, str], new: dict[str, str]) -> str:
    return "; ".join(
        f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(old) if old[k] != new.get(k)
    )


def _text_change(old: str, new: str) -> str:
    return f"{old} -> {new}"


def _policy_changes(
    old: dict[str, dict[str, PolicyFact]], new: dict[str, dict[str, PolicyFact]]
) -> Iterator[Change]:
    for chain in sorted(set(old) | set(new)):
        if chain not in new:
            yield Change(
                Kind.POLICIES, chain, Op.REMOVED, "no RBAC any more: any mesh identity may call"
            )
            continue
        if chain not in old:
            yield Change(Kind.POLICIES, chain, Op.ADDED, "RBAC added")
        before, after = old.get(chain, {}), new[chain]
        for name in sorted(set(before) | set(after)):
            subject = f"{chain} {name}"
            if name not in before:
                yield Change(Kind.POLICIES, subject, Op.ADDED, _policy_text(after[name]))
            elif name not in after:
                yield Change(Kind.POLICIES, subject, Op.REMOVED, _policy_text(before[name]))
            elif before[name] != after[name]:
                yield Change(
                    Kind.POLICIES, subject, Op.CHANGED, _policy_delta(before[name], after[name])
                )


def _policy_text(policy: PolicyFact) -> str:
    return f"principals {', '.join(sorted(policy.principals))}; requests {policy.requests}"


def _policy_delta(old: PolicyFact, new: PolicyFact) -> str:
    parts = [f"+principal {p}" for p in sorted(new.principals - old.principals)]
    parts += [f"-principal {p}" for p in sorted(old.principals - new.principals)]
    if old.permissions != new.permissions:
        parts.append(f"requests {old.requests} -> {new.requests}")
    return "; ".join(parts)


def _certificate_changes(old: Proxy, new: Proxy) -> Iterator[Change]:
    before, after = old.certificate, new.certificate
    if before is None or after is None or before.fingerprint == after.fingerprint:
        return
    detail = (
        f"will rotate: serial {before.serial:x} -> {after.serial:x}, "
        f"expires {before.not_after:%Y-%m-%d} -> {after.not_after:%Y-%m-%d}"
    )
    if before.sans != after.sans:
        detail += f", SANs {', '.join(before.sans)} -> {', '.join(after.sans)}"
    yield Change(Kind.CERTIFICATES, f"Secret {after.secret}", Op.CHANGED, detail)


_SECTION_KINDS = {
    "bootstrap": frozenset[Kind](),
    "listeners": frozenset({Kind.ROUTES, Kind.CHAINS, Kind.POLICIES}),
    "clusters": frozenset({Kind.CLUSTERS}),
    "secrets": frozenset[Kind](),
}


def _other_changes(old: Proxy, new: Proxy, reported: set[Kind]) -> Iterator[Change]:
    """A section that differs with no change of its kinds reported differs elsewhere (timeouts,
    options, ...): say so rather than hide it."""
    before, after = old.raw(), new.raw()
    for section, kinds in _SECTION_KINDS.items():
        if before[section] != after[section] and not reported & kinds:
            detail = "fields not shown above differ: compare `proxy-config -o yaml`"
            yield Change(Kind.OTHER, section, Op.CHANGED, detail)


def _ca_changes(old: InspectedMesh, new: InspectedMesh) -> Iterator[Change]:
    if old.ca_fingerprints and new.ca_fingerprints and old.ca_fingerprints != new.ca_fingerprints:
        detail = f"{', '.join(old.ca_fingerprints)} -> {', '.join(new.ca_fingerprints)}"
        yield Change(
            Kind.CERTIFICATES, "mesh CA bundle", Op.CHANGED, f"trust anchors change: {detail}"
        )
