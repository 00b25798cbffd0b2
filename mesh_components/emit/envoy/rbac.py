"""Authorization: access rules as RBAC filters on inbound chains, one policy per rule.

The principal is the client certificate's URI SAN (mTLS has already authenticated it). An HTTP
rule becomes permissions on the one catch-all route, so overlapping rules OR correctly.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh_components.compiler.plan import AccessRule
from mesh_components.emit.envoy.ingress import cidr_range
from mesh_components.emit.envoy.types import HTTP_RBAC, NETWORK_RBAC, Json
from mesh_components.model import HttpRule, PathMatch, PathMatchKind


def _any() -> Json:
    return {"any": True}


def _allow(policies: Json) -> Json:
    """RBAC is an allow list: ALLOW with no policies denies everything."""
    return {"action": "ALLOW", "policies": policies} if policies else {"action": "ALLOW"}


def http_filter(access: Sequence[AccessRule]) -> Json:
    """`envoy.filters.http.rbac`: requests match a rule's principals and request shape."""
    return HTTP_RBAC.config(rules=_rules(access, http=True))


def network_filter(access: Sequence[AccessRule], stat_prefix: str) -> Json:
    """`envoy.filters.network.rbac`: connections match a rule's principals."""
    return NETWORK_RBAC.config(stat_prefix=stat_prefix, rules=_rules(access, http=False))


def deny_all_filter(stat_prefix: str) -> Json:
    """A network RBAC filter that closes every connection."""
    return NETWORK_RBAC.config(stat_prefix=stat_prefix, rules=_allow({}))


def _rules(access: Sequence[AccessRule], *, http: bool) -> Json:
    ordered = sorted(access, key=lambda rule: rule.name)
    policies = {rule.name: _policy(rule, http=http) for rule in ordered}
    return _allow(policies)


def _policy(rule: AccessRule, *, http: bool) -> Json:
    """A plaintext ingress rule's principals are the client's own address (never XFF)."""
    principals = [{"authenticated": {"principal_name": {"exact": p}}} for p in rule.principals]
    principals += [{"direct_remote_ip": cidr_range(r)} for r in rule.source_ranges]
    permission = _request_permission(rule.http) if http and rule.http else _any()
    return {"permissions": [permission], "principals": principals}


def _request_permission(rule: HttpRule) -> Json:
    """All of the rule's parts must match; a rule with no parts matches any request."""
    parts = [_path(rule.path)] if rule.path else []
    if rule.methods:
        parts.append(_any_of([_header(":method", {"exact": m}) for m in rule.methods]))
    parts += [_header(h.name, {"safe_regex": {"regex": h.regex}}) for h in rule.headers]
    return {"and_rules": {"rules": parts}} if parts else _any()


def _path(match: PathMatch) -> Json:
    """`url_path` is the path without its query string."""
    matchers: dict[PathMatchKind, Json] = {
        PathMatchKind.EXACT: {"exact": match.value},
        PathMatchKind.PREFIX: {"prefix": match.value},
        PathMatchKind.REGEX: {"safe_regex": {"regex": match.value}},
    }
    return {"url_path": {"path": matchers[match.kind]}}


def _header(name: str, string_match: Json) -> Json:
    return {"header": {"name": name, "string_match": string_match}}


def _any_of(rules: list[Json]) -> Json:
    return rules[0] if len(rules) == 1 else {"or_rules": {"rules": rules}}
