"""Evaluate an emitted RBAC filter config for one request, the way Envoy's RBAC filter does.

This reads the same `rules` that `emit/envoy/rbac.py` builds from the plan's AccessRules, so
the decision is the deployed one, not a second reading of the policies. ALLOW with no policy
matching (or no policies at all) denies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh_components.emit.envoy.types import Json
from mesh_components.inspect.envoy_read import string_match
from mesh_components.inspect.matching import UnsupportedConfigError, header_matches, string_matches


@dataclass(frozen=True, slots=True)
class Subject:
    """What RBAC judges: the peer's certificate URI SAN (None for plaintext) and, for HTTP,
    the request's pseudo-headers and headers (names in lower case)."""

    principal: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """`url_path`: the path without its query string."""
        return self.headers.get(":path", "/").split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """One RBAC policy's verdict, with the reasons: what matched, or what did not."""

    policy: str
    matched: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RbacDecision:
    allowed: bool
    policy: str | None
    verdicts: tuple[PolicyVerdict, ...]


def decide(rules: Json, subject: Subject) -> RbacDecision:
    """Every policy's verdict, in name order; the first match decides, as in Envoy."""
    action = rules.get("action", "ALLOW")
    if action not in ("ALLOW", "DENY"):
        raise UnsupportedConfigError(f"RBAC action {action}")
    verdicts = tuple(
        _policy(name, body, subject) for name, body in sorted(rules.get("policies", {}).items())
    )
    matched = next((v.policy for v in verdicts if v.matched), None)
    allowed = (matched is not None) == (action == "ALLOW")
    return RbacDecision(allowed, matched, verdicts)


def _policy(name: str, body: Json, subject: Subject) -> PolicyVerdict:
    principal_ok, who = _any_principal(body.get("principals", []), subject)
    if not principal_ok:
        return PolicyVerdict(name, False, (who,))
    results = [_permission(p, subject) for p in body.get("permissions", [])]
    permitted = next((r for r in results if r[0]), None)
    if permitted is None:
        failures = [
            reason for _, reasons in results for reason in reasons if reason.startswith("not ")
        ]
        return PolicyVerdict(name, False, (who, *failures))
    return PolicyVerdict(name, True, (who, *permitted[1]))


def _any_principal(principals: list[Json], subject: Subject) -> tuple[bool, str]:
    wanted = []
    for principal in principals:
        if principal.get("any"):
            return True, "any peer"
        if "authenticated" not in principal or set(principal) != {"authenticated"}:
            raise UnsupportedConfigError(f"RBAC principal {sorted(principal)}")
        matcher = principal["authenticated"].get("principal_name")
        if matcher is None:
            if subject.principal is not None:
                return True, "any authenticated peer"
            continue
        if subject.principal is not None and string_matches(matcher, subject.principal):
            return True, f"peer {subject.principal}"
        wanted.append(string_match(matcher))
    peer = subject.principal or "a plaintext peer (no certificate)"
    return False, f"not the peer: {peer} is not {' or '.join(wanted) or 'listed'}"


def _permission(permission: Json, subject: Subject) -> tuple[bool, list[str]]:
    """(matched, reasons); failed reasons start with `not `."""
    if permission.get("any"):
        return True, ["any request"]
    if "and_rules" in permission:
        results = [_permission(p, subject) for p in permission["and_rules"]["rules"]]
        reasons = [r for _, rs in results for r in rs]
        return all(ok for ok, _ in results), reasons
    if "or_rules" in permission:
        results = [_permission(p, subject) for p in permission["or_rules"]["rules"]]
        hit = next((rs for ok, rs in results if ok), None)
        return (True, hit) if hit is not None else (False, [r for _, rs in results for r in rs])
    if "url_path" in permission:
        matcher = permission["url_path"]["path"]
        ok = string_matches(matcher, subject.path)
        return ok, [f"{'' if ok else 'not '}path {subject.path} {string_match(matcher)}"]
    if "header" in permission:
        header = permission["header"]
        value = subject.headers.get(header["name"].lower())
        ok = header_matches(header, subject.headers)
        shown = "absent" if value is None else value
        wanted = string_match(header.get("string_match", {}))
        return ok, [f"{'' if ok else 'not '}{header['name']} {shown} {wanted}"]
    raise UnsupportedConfigError(f"RBAC permission {sorted(permission)}")
