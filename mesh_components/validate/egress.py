"""Checks of egress rules: names, host names, IP ranges and ports, the workloads they pick, and
(once the mesh resolves) ports where an allowance would change how mesh traffic is matched.

Host names are what Envoy compares with `Host` or SNI: lowercase DNS names with at least one dot,
optionally starting with `*.`. Ranges are IPv4 networks: the sidecar listens on IPv4 only and the
init container drops IPv6.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from mesh_components.compiler import MeshIndex, egress_conflicts, egress_plan
from mesh_components.compiler.outbound import outbound_ports
from mesh_components.errors import Problem
from mesh_components.model import EgressHosts, EgressRule, MeshSpec, Service
from mesh_components.validate._common import (
    PORT_RANGE_RULE,
    Check,
    duplicates,
    in_port_range,
    is_dns_subdomain,
    label_problems,
    namespaced_names,
    object_path,
    repeated,
    workload_path,
    workloads_by_namespace,
)

HOST_RULE = (
    "a lowercase DNS name with at least one dot, such as api.example.com, optionally "
    "starting with '*.' for its subdomains"
)
CIDR_RULE = "an IPv4 range in CIDR notation, such as 203.0.113.0/24 or 198.51.100.7/32"


def rule_path(rule: EgressRule) -> str:
    return object_path("egress", rule.namespace, rule.name)


def egress_names(spec: MeshSpec) -> Iterator[Problem]:
    yield from namespaced_names("egress", ((r.namespace, r.name) for r in spec.egress))


def egress_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    yield from duplicates("egress", "egress", ((r.namespace, r.name) for r in spec.egress))


def empty_rules(spec: MeshSpec) -> Iterator[Problem]:
    """A rule must allow something, and every list it has must list something."""
    for rule in spec.egress:
        path = rule_path(rule)
        if rule.http is None and rule.tls is None and rule.tcp is None:
            expected = "at least one of http, tls or tcp"
            fix = "add e.g. 'tls: {hosts: [api.example.com]}', or remove the rule"
            yield Problem(path, "egress-rule-empty", expected, "none of them", fix)
        for key, values in _lists(rule):
            if not values:
                fix = f"list at least one entry in {key}, or remove it"
                yield Problem(f"{path}.{key}", "egress-rule-empty", "a non-empty list", "[]", fix)


def _lists(rule: EgressRule) -> list[tuple[str, tuple[object, ...]]]:
    found: list[tuple[str, tuple[object, ...]]] = []
    for kind, hosts in (("http", rule.http), ("tls", rule.tls)):
        if hosts is not None:
            found += [(f"{kind}.hosts", hosts.hosts), (f"{kind}.ports", hosts.ports)]
    if rule.tcp is not None:
        found += [("tcp.cidrs", rule.tcp.cidrs), ("tcp.ports", rule.tcp.ports)]
    return found


def repeated_entries(spec: MeshSpec) -> Iterator[Problem]:
    """A host, range or port listed twice in one list is a copy-paste slip."""
    for rule in spec.egress:
        for key, values in _lists(rule):
            for index, value in repeated(values):
                path = f"{rule_path(rule)}.{key}[{index}]"
                fix = "remove the repeated entry"
                found = f"{value!r} again"
                yield Problem(path, "egress-duplicate-entry", "each entry once", found, fix)


def ports(spec: MeshSpec) -> Iterator[Problem]:
    for rule in spec.egress:
        for key, values in _lists(rule):
            if not key.endswith("ports"):
                continue
            for index, port in enumerate(values):
                if isinstance(port, int) and not in_port_range(port):
                    path = f"{rule_path(rule)}.{key}[{index}]"
                    fix = "use the port the app dials, from 1 to 65535"
                    yield Problem(path, "egress-port-invalid", PORT_RANGE_RULE, str(port), fix)


def hosts(spec: MeshSpec) -> Iterator[Problem]:
    """Host names Envoy can match, never everything, never a mesh service."""
    mesh_hosts = _mesh_hosts(spec)
    for rule in spec.egress:
        for kind, allowed in (("http", rule.http), ("tls", rule.tls)):
            if allowed is not None:
                yield from _host_problems(f"{rule_path(rule)}.{kind}", allowed, mesh_hosts)


def _host_problems(
    path: str, allowed: EgressHosts, mesh_hosts: dict[str, str]
) -> Iterator[Problem]:
    for index, host in enumerate(allowed.hosts):
        at = f"{path}.hosts[{index}]"
        problem = _host_problem(at, host)
        if problem is not None:
            yield problem
        elif host in mesh_hosts:
            expected = "a destination outside the mesh"
            found = f"{host!r}, a name of {mesh_hosts[host]}"
            fix = "remove it: mesh services are reached through the mesh, under its policies"
            yield Problem(at, "egress-host-in-mesh", expected, found, fix)


def _host_problem(path: str, host: str) -> Problem | None:
    if host in ("*", "*.*", ""):
        code = "egress-host-empty" if not host else "egress-host-wildcard-all"
        fix = "name the hosts; to let everything out, set mesh.egress: passthrough"
        return Problem(path, code, HOST_RULE, repr(host), fix)
    if _is_ip(host):
        fix = f"allow the address under tcp.cidrs as '{host}/32', with its ports"
        return Problem(path, "egress-host-invalid", HOST_RULE, f"the address {host!r}", fix)
    name = host.removeprefix("*.")
    if "." not in name or not is_dns_subdomain(name):
        lowered = host.lower().strip(".")
        fix = f"write it as {lowered!r}" if lowered != host else "write the fully qualified name"
        return Problem(path, "egress-host-invalid", HOST_RULE, repr(host), fix)
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _mesh_hosts(spec: MeshSpec) -> dict[str, str]:
    """Every name by which a client reaches a declared service, and whose it is."""
    found: dict[str, str] = {}
    for service in spec.services:
        for host in _service_hosts(service, spec.settings.cluster_domain):
            found.setdefault(host, object_path("services", service.namespace, service.name))
    return found


def _service_hosts(service: Service, cluster_domain: str) -> tuple[str, ...]:
    short = f"{service.name}.{service.namespace}"
    return (short, f"{short}.svc", f"{short}.svc.{cluster_domain}")


def cidrs(spec: MeshSpec) -> Iterator[Problem]:
    for rule in spec.egress:
        if rule.tcp is None:
            continue
        for index, text in enumerate(rule.tcp.cidrs):
            problem = _cidr_problem(f"{rule_path(rule)}.tcp.cidrs[{index}]", text)
            if problem is not None:
                yield problem


def _cidr_problem(path: str, text: str) -> Problem | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        fix = "write an address and a prefix length, e.g. '203.0.113.0/24'"
        return Problem(path, "egress-cidr-invalid", CIDR_RULE, repr(text), fix)
    if network.version == 6:
        fix = "use an IPv4 range: IPv6 never reaches the sidecar (the init container drops it)"
        return Problem(path, "egress-cidr-invalid", CIDR_RULE, f"the IPv6 range {text!r}", fix)
    if "/" not in text or str(network) != text:
        fix = f"write {str(network)!r}"
        found = f"{text!r} (host bits set, or no prefix length)"
        return Problem(path, "egress-cidr-invalid", CIDR_RULE, found, fix)
    return None


def scopes(spec: MeshSpec) -> Iterator[Problem]:
    """A selector's labels must be valid, and a rule must pick at least one workload."""
    by_namespace = workloads_by_namespace(spec)
    for rule in spec.egress:
        path = rule_path(rule)
        if rule.selector is not None:
            yield from label_problems(f"{path}.selector", rule.selector)
        picked = [w for w in by_namespace.get(rule.namespace, ()) if rule.applies_to(w)]
        if not picked:
            yield _picks_nothing(path, rule)


def _picks_nothing(path: str, rule: EgressRule) -> Problem:
    scope = [f"namespace {rule.namespace!r}"]
    if rule.selector is not None:
        scope.append(f"labels {dict(rule.selector)}")
    if rule.service_account is not None:
        scope.append(f"ServiceAccount {rule.service_account!r}")
    return Problem(
        path,
        "egress-selects-nothing",
        "at least one workload that the rule applies to",
        f"no workload with {', '.join(scope)}",
        "fix the namespace, selector or serviceAccount, or remove the rule",
    )


def port_conflicts(spec: MeshSpec) -> Iterator[Problem]:
    """Runs on a sound mesh only (see `validate.find_problems`): it resolves outbound ports."""
    index = MeshIndex.of(spec)
    for workload in spec.workloads:
        outbound = outbound_ports(index, workload)
        conflicts = egress_conflicts(outbound, egress_plan(index, workload))
        for port, (kind, protocol) in sorted(conflicts.items()):
            yield _conflict(workload_path(workload), port, kind, protocol.value)


def _conflict(path: str, port: int, kind: str, protocol: str) -> Problem:
    if kind == "tcp":
        found = (
            f"an egress IP range on port {port}, where it also reaches a mesh {protocol} service"
        )
        expected = "egress IP ranges only on ports where the workload reaches no mesh service"
        fix = "allow the external destination by host (http or tls) instead, or move one port"
    else:
        found = f"egress {kind} hosts on port {port}, a mesh TCP service's port"
        expected = "egress hosts only on ports free of mesh TCP services"
        fix = "move one of them to another port, or allow the destination by IP range elsewhere"
    return Problem(path, "egress-port-conflict", expected, found, fix)


CODES = (
    "egress-cidr-invalid",
    "egress-duplicate",
    "egress-duplicate-entry",
    "egress-host-empty",
    "egress-host-in-mesh",
    "egress-host-invalid",
    "egress-host-wildcard-all",
    "egress-port-conflict",
    "egress-port-invalid",
    "egress-rule-empty",
    "egress-selects-nothing",
    "label-invalid",
    "name-invalid",
)

CHECKS: tuple[Check, ...] = (
    egress_names,
    egress_duplicates,
    empty_rules,
    repeated_entries,
    ports,
    hosts,
    cidrs,
    scopes,
)

GRAPH_CHECKS: tuple[Check, ...] = (port_conflicts,)
"""Checks that resolve the mesh as the compiler does: run once every other check passed."""
