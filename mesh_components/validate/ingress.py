"""Checks of ingress entries: what they name exists, and plaintext is never let in by accident.

An IP range is trusted by its address alone and speaks plaintext, so the spec must acknowledge
it (`plaintext: true`), and a range that covers every address needs `anyAddress: true` on top.
Each identity is issued a mesh certificate, so its namespace and name must make a valid Secret.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import Ingress, MeshSpec, Service, ServiceRef
from mesh_components.validate._common import (
    Check,
    duplicates,
    invalid_name,
    namespaced_names,
    object_path,
    repeated,
    service_path,
    services_by_ref,
)
from mesh_components.validate.policies import rule_problems

CIDR_RULE = "a CIDR such as 10.0.0.0/8 or fd00::/8 (an address, '/', a prefix length)"


def ingress_path(ingress: Ingress) -> str:
    return object_path("ingress", ingress.namespace, ingress.name)


def ingress_names(spec: MeshSpec) -> Iterator[Problem]:
    yield from namespaced_names("ingress", ((i.namespace, i.name) for i in spec.ingress))


def ingress_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    yield from duplicates("ingress", "ingress", ((i.namespace, i.name) for i in spec.ingress))


def backends(spec: MeshSpec) -> Iterator[Problem]:
    """The service exists in the entry's namespace, and each port is one of its ports."""
    services = services_by_ref(spec)
    for ingress in spec.ingress:
        at, service = ingress_path(ingress), services.get(ingress.service_ref)
        if service is None:
            yield _unknown_service(f"{at}.service", ingress, services)
            continue
        numbers = ", ".join(str(p.port) for p in service.ports)
        for index, port in enumerate(ingress.ports):
            if port not in {p.port for p in service.ports}:
                expected = f"a port of {service_path(service)} ({numbers})"
                fix = "name a service port (the Service's `port`, not its targetPort)"
                path = f"{at}.ports[{index}]"
                yield Problem(path, "ingress-unknown-port", expected, str(port), fix)
        for index, port in repeated(ingress.ports):
            fix = "list each port once"
            path, found = f"{at}.ports[{index}]", f"{port} again"
            yield Problem(path, "ingress-port-repeated", "each port once", found, fix)


def _unknown_service(path: str, ingress: Ingress, services: dict[ServiceRef, Service]) -> Problem:
    known = sorted(s.name for s in services.values() if s.namespace == ingress.namespace)
    close = difflib.get_close_matches(ingress.service, known, n=1)
    fix = f"did you mean {close[0]!r}?" if close else "declare the service, or fix the name"
    expected = f"a service declared in namespace {ingress.namespace!r}"
    return Problem(path, "ingress-unknown-service", expected, repr(ingress.service), fix)


def sources(spec: MeshSpec) -> Iterator[Problem]:
    """At least one source; each identity, once, with names a certificate Secret can carry."""
    for ingress in spec.ingress:
        at, given = f"{ingress_path(ingress)}.sources", ingress.sources
        if not given.identities and not given.ip_ranges:
            expected = "identities (mTLS) or ipRanges (plaintext)"
            fix = "list the ingress controller's ServiceAccount under identities"
            yield Problem(at, "ingress-no-sources", expected, "neither", fix)
        for index, identity in enumerate(given.identities):
            path = f"{at}.identities[{index}]"
            yield from invalid_name(f"{path}.namespace", identity.namespace)
            yield from invalid_name(f"{path}.serviceAccount", identity.service_account)
        for index, identity in repeated(given.identities):
            found, fix = f"{identity} again", "list each identity once"
            path = f"{at}.identities[{index}]"
            yield Problem(path, "ingress-source-repeated", "each identity once", found, fix)


def ip_ranges(spec: MeshSpec) -> Iterator[Problem]:
    """Each range parses, is written as its network, is listed once and is acknowledged."""
    for ingress in spec.ingress:
        at, given = f"{ingress_path(ingress)}.sources", ingress.sources
        networks = [_cidr_problem(f"{at}.ipRanges[{i}]", r) for i, r in enumerate(given.ip_ranges)]
        yield from (problem for problem in networks if problem is not None)
        for index, text in repeated(given.ip_ranges):
            found, fix = f"{text} again", "list each range once"
            path = f"{at}.ipRanges[{index}]"
            yield Problem(path, "ingress-source-repeated", "each range once", found, fix)
        yield from _acknowledgments(at, ingress)


def _cidr_problem(path: str, text: str) -> Problem | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        fix = "write the range in CIDR notation, e.g. '10.0.0.0/8'; a single address is '/32'"
        return Problem(path, "ingress-ip-range-invalid", CIDR_RULE, f"{text!r}: {error}", fix)
    if "/" not in text or str(network) != text:
        fix = f"write {str(network)!r}"
        expected = "a CIDR written as its network address, with its prefix length"
        return Problem(path, "ingress-ip-range-invalid", expected, repr(text), fix)
    return None


def _acknowledgments(at: str, ingress: Ingress) -> Iterator[Problem]:
    given = ingress.sources
    if given.ip_ranges and not given.plaintext:
        expected = "plaintext: true next to ipRanges (these clients are not authenticated)"
        fix = (
            "add 'plaintext: true' if the ingress controller cannot use mTLS, or list its "
            "ServiceAccount under identities instead"
        )
        yield Problem(f"{at}.plaintext", "ingress-plaintext-unacknowledged", expected, "no", fix)
    if given.plaintext and not given.ip_ranges:
        fix = "list the ranges plaintext clients come from, or remove 'plaintext'"
        expected = "ipRanges for plaintext clients"
        yield Problem(f"{at}.plaintext", "ingress-plaintext-without-ranges", expected, "none", fix)
    everything = [r for r in given.ip_ranges if covers_every_address(r)]
    if everything and not given.any_address:
        expected = "a range narrower than every address, or anyAddress: true"
        fix = (
            "list the ingress controller's pod or node CIDR; if any address really may call, "
            "add 'anyAddress: true'"
        )
        found = f"{', '.join(everything)}: every address, in plaintext"
        yield Problem(f"{at}.ipRanges", "ingress-any-address", expected, found, fix)
    if given.any_address and not everything:
        fix = "remove 'anyAddress' (no range covers every address)"
        expected = "anyAddress only with 0.0.0.0/0 or ::/0"
        yield Problem(f"{at}.anyAddress", "ingress-any-address-unused", expected, "true", fix)


def covers_every_address(text: str) -> bool:
    """Whether a CIDR is 0.0.0.0/0 or ::/0 (False when it does not parse)."""
    try:
        return ipaddress.ip_network(text, strict=False).prefixlen == 0
    except ValueError:
        return False


def intercepted(spec: MeshSpec) -> Iterator[Problem]:
    """An app port excluded from interception is answered by the app itself, without the
    sidecar, so an ingress entry for it would enforce nothing."""
    excluded = set(spec.settings.proxy.interception.inbound_port_exclusions)
    services = services_by_ref(spec)
    for ingress in spec.ingress:
        service = services.get(ingress.service_ref)
        for index, port in enumerate(ingress.ports):
            found = next((p for p in service.ports if p.port == port), None) if service else None
            if found is not None and found.target in excluded:
                path = f"{ingress_path(ingress)}.ports[{index}]"
                expected = "a port the sidecar intercepts"
                what = f"{port} (target {found.target}), in mesh.proxy.interception"
                fix = "remove the port from inboundPortExclusions, or remove it here"
                yield Problem(path, "ingress-port-not-intercepted", expected, what, fix)


def http_rules(spec: MeshSpec) -> Iterator[Problem]:
    """Rules are valid request matches, and some declared port speaks HTTP."""
    services = services_by_ref(spec)
    for ingress in spec.ingress:
        at = ingress_path(ingress)
        for index, rule in enumerate(ingress.http_rules):
            yield from rule_problems(f"{at}.http[{index}]", rule, "ingress")
        service = services.get(ingress.service_ref)
        if not ingress.http_rules or service is None:
            continue
        ports = [p for p in service.ports if p.port in ingress.ports]
        if ports and not any(p.protocol.is_http for p in ports):
            expected = "an HTTP, HTTP/2 or gRPC port among the ports"
            found = ", ".join(f"{p.port}/{p.protocol}" for p in ports)
            fix = "remove the http rules: a TCP port lets in whole connections"
            yield Problem(f"{at}.http", "ingress-http-on-tcp-only", expected, found, fix)


CODES = (
    "ingress-any-address",
    "ingress-any-address-unused",
    "ingress-duplicate",
    "ingress-header-invalid",
    "ingress-http-on-tcp-only",
    "ingress-ip-range-invalid",
    "ingress-method-invalid",
    "ingress-no-sources",
    "ingress-path-invalid",
    "ingress-plaintext-unacknowledged",
    "ingress-plaintext-without-ranges",
    "ingress-port-not-intercepted",
    "ingress-port-repeated",
    "ingress-regex-invalid",
    "ingress-source-repeated",
    "ingress-unknown-port",
    "ingress-unknown-service",
    "name-invalid",
)

CHECKS: tuple[Check, ...] = (
    ingress_names,
    ingress_duplicates,
    backends,
    sources,
    ip_ranges,
    intercepted,
    http_rules,
)
