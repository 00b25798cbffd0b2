"""Checks of access policies: references, HTTP match syntax, and rules that could never apply.

Envoy matches regexes with RE2 and header names in lowercase, so anything else is rejected here
rather than by the proxy. Policies in `open` access mode would be ignored, so they are an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    HttpRule,
    MeshSpec,
    PathMatchKind,
    Service,
)
from mesh_components.validate._common import (
    PORT_RANGE_RULE,
    Check,
    duplicates,
    in_port_range,
    namespaced_names,
    object_path,
    service_path,
    services_by_ref,
)
from mesh_components.validate._re2 import regex_problem

METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


def policy_path(policy: AccessPolicy) -> str:
    return object_path("policies", policy.namespace, policy.name)


def policy_names(spec: MeshSpec) -> Iterator[Problem]:
    yield from namespaced_names("policies", ((p.namespace, p.name) for p in spec.policies))


def policy_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    yield from duplicates("policies", "policy", ((p.namespace, p.name) for p in spec.policies))


def open_mode(spec: MeshSpec) -> Iterator[Problem]:
    """In `open` mode every identity may call everything, so a policy would silently do nothing."""
    if spec.policies and spec.settings.access is AccessMode.OPEN:
        expected = "mesh.access: policy whenever policies are declared"
        found = f"open, with {len(spec.policies)} policies that would have no effect"
        fix = "set mesh.access to 'policy', or remove the policies"
        yield Problem("mesh.access", "policy-in-open-mode", expected, found, fix)


def destinations(spec: MeshSpec) -> Iterator[Problem]:
    """Exactly one of a service or an identity, and it must exist."""
    services, identities = services_by_ref(spec), {w.identity for w in spec.workloads}
    for policy in spec.policies:
        at, target = f"{policy_path(policy)}.destination", policy.destination
        if (target.service is None) == (target.identity is None):
            found = "both" if target.service else "neither"
            fix = "keep exactly one of destination.service and destination.serviceAccount"
            expected = "a service or a serviceAccount"
            yield Problem(at, "policy-destination-invalid", expected, found, fix)
        elif target.service is not None and target.service not in services:
            fix = f"declare {service_path(target.service)}, or name a declared service"
            found, code = f"{target.service}, which is not declared", "policy-unknown-service"
            yield Problem(f"{at}.service", code, "a declared service", found, fix)
        elif target.identity is not None and target.identity not in identities:
            yield _unknown_identity(f"{at}.serviceAccount", str(target.identity))


def sources(spec: MeshSpec) -> Iterator[Problem]:
    identities = {workload.identity for workload in spec.workloads}
    for policy in spec.policies:
        at = f"{policy_path(policy)}.sources"
        if not policy.sources:
            fix = "add the ServiceAccounts that may call the destination"
            yield Problem(at, "policy-no-sources", "at least one source identity", "none", fix)
        for index, source in enumerate(policy.sources):
            if source not in identities:
                yield _unknown_identity(f"{at}[{index}]", str(source))


def _unknown_identity(path: str, identity: str) -> Problem:
    expected = "the namespace/ServiceAccount of a declared workload"
    fix = f"fix the ServiceAccount or namespace, or declare a workload running as {identity}"
    found = f"{identity}, which no workload uses"
    return Problem(path, "policy-unknown-identity", expected, found, fix)


def http_rules(spec: MeshSpec) -> Iterator[Problem]:
    for policy in spec.policies:
        for index, rule in enumerate(policy.http_rules):
            yield from rule_problems(f"{policy_path(policy)}.http[{index}]", rule)


def rule_problems(at: str, rule: HttpRule, prefix: str = "policy") -> Iterator[Problem]:
    """A request match's path, methods and headers; codes start with `prefix`."""
    yield from _path_match(at, rule, prefix)
    yield from _methods(at, rule, prefix)
    yield from _headers(at, rule, prefix)


def _path_match(at: str, rule: HttpRule, prefix: str) -> Iterator[Problem]:
    if rule.path is None:
        return
    path, value = f"{at}.path.{rule.path.kind}", rule.path.value
    if rule.path.kind is PathMatchKind.REGEX:
        yield from _regex(path, value, "the whole path", prefix)
    elif not value.startswith("/"):
        fix, expected = f"write {'/' + value!r}", "a path starting with '/'"
        yield Problem(path, f"{prefix}-path-invalid", expected, repr(value), fix)


def _methods(at: str, rule: HttpRule, prefix: str) -> Iterator[Problem]:
    expected = f"one of {', '.join(METHODS)}"
    for index, method in enumerate(rule.methods):
        if method in METHODS:
            continue
        fix = f"write {method.upper()!r}" if method.upper() in METHODS else f"use {expected}"
        fix = "leave methods empty to allow every method" if method == "*" else fix
        path = f"{at}.methods[{index}]"
        yield Problem(path, f"{prefix}-method-invalid", expected, repr(method), fix)


def _headers(at: str, rule: HttpRule, prefix: str) -> Iterator[Problem]:
    for header in rule.headers:
        path = f"{at}.headers[{header.name}]"
        if _HEADER_NAME.fullmatch(header.name) is None:
            lower = header.name.lower()
            fix = f"write it lowercase: {lower!r}"
            fix = fix if _HEADER_NAME.fullmatch(lower) else "use a header name such as 'x-client'"
            expected = "a lowercase HTTP header name (Envoy matches header names in lowercase)"
            yield Problem(path, f"{prefix}-header-invalid", expected, repr(header.name), fix)
        yield from _regex(path, header.regex, "the whole header value", prefix)


def _regex(path: str, pattern: str, subject: str, prefix: str) -> Iterator[Problem]:
    """Envoy compiles match regexes with RE2 and rejects the whole config if one fails."""
    reason = regex_problem(pattern)
    if reason is not None:
        expected = f"an RE2 regex that Envoy accepts, matched against {subject}"
        fix = "rewrite it in RE2 syntax (no lookaround or backreferences), as the finding says"
        yield Problem(path, f"{prefix}-regex-invalid", expected, f"{pattern!r}: {reason}", fix)


def _destination_services(spec: MeshSpec, policy: AccessPolicy) -> list[Service] | None:
    """The services the destination stands for, or None when it is malformed or unknown."""
    target, services = policy.destination, services_by_ref(spec)
    if target.service is not None and target.identity is None:
        service = services.get(target.service)
        return None if service is None else [service]
    if target.identity is None or target.service is not None:
        return None
    identity = target.identity
    pods = [w for w in spec.workloads if w.identity == identity]
    if not pods:
        return None
    return [
        service
        for service in services.values()
        if service.namespace == identity.namespace and any(service.selects(w.labels) for w in pods)
    ]


def http_on_tcp_only(spec: MeshSpec) -> Iterator[Problem]:
    for policy in spec.policies:
        targets = _destination_services(spec, policy) if policy.http_rules else None
        if targets is not None and not any(p.protocol.is_http for s in targets for p in s.ports):
            ports = ", ".join(f"{s.name}:{p.port}/{p.protocol}" for s in targets for p in s.ports)
            expected = "a destination with an HTTP, HTTP/2 or gRPC port"
            fix = "remove the http rules and allow the TCP ports with tcp instead"
            path, found = f"{policy_path(policy)}.http", f"only TCP ports ({ports or 'none'})"
            yield Problem(path, "policy-http-on-tcp-only", expected, found, fix)


def tcp_ports(spec: MeshSpec) -> Iterator[Problem]:
    """Each TCP port is in range and a TCP service port of the destination."""
    for policy in spec.policies:
        if not policy.tcp_ports:
            continue  # nothing to check, and resolving the destination costs O(services)
        at, targets = f"{policy_path(policy)}.tcp.ports", _destination_services(spec, policy)
        known = sorted({p.port for s in targets or () for p in s.ports if not p.protocol.is_http})
        expected = f"a TCP port of the destination ({', '.join(map(str, known)) or 'it has none'})"
        for index, port in enumerate(policy.tcp_ports):
            path = f"{at}[{index}]"
            if not in_port_range(port):
                fix = "use a port from 1 to 65535"
                yield Problem(path, "port-out-of-range", PORT_RANGE_RULE, str(port), fix)
            elif targets is not None and port not in known:
                fix = "use a TCP service port number of the destination, or remove it"
                yield Problem(path, "policy-tcp-port-unknown", expected, str(port), fix)


def tcp_ports_ignored(spec: MeshSpec) -> Iterator[Problem]:
    """`tcp_ports` only count when `tcp` is set; otherwise they would be dropped silently."""
    for policy in spec.policies:
        if policy.tcp_ports and not policy.tcp:
            path = f"{policy_path(policy)}.tcp.ports"
            expected, fix = "tcp enabled when TCP ports are listed", "set tcp, or remove the ports"
            yield Problem(path, "policy-tcp-ports-ignored", expected, "tcp is false", fix)


CODES = (
    "name-invalid",
    "policy-destination-invalid",
    "policy-duplicate",
    "policy-header-invalid",
    "policy-http-on-tcp-only",
    "policy-in-open-mode",
    "policy-method-invalid",
    "policy-no-sources",
    "policy-path-invalid",
    "policy-regex-invalid",
    "policy-tcp-port-unknown",
    "policy-tcp-ports-ignored",
    "policy-unknown-identity",
    "policy-unknown-service",
    "port-out-of-range",
)

CHECKS: tuple[Check, ...] = (
    policy_names,
    policy_duplicates,
    open_mode,
    destinations,
    sources,
    http_rules,
    http_on_tcp_only,
    tcp_ports,
    tcp_ports_ignored,
)
