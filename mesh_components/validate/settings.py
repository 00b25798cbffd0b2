"""Checks of the mesh-wide settings: the mesh name, the trust and cluster domains, and the proxy.

The proxy's ports are reserved in every pod, so they must be in range and distinct. Its UID is
what the iptables rules exempt, so it must be a real, non-root user.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import MeshSpec
from mesh_components.model.settings import DNS_REFRESH, DNS_REFRESH_RANGE
from mesh_components.validate._common import (
    MAX_PORT,
    PORT_RANGE_RULE,
    Check,
    in_port_range,
    invalid_name,
    is_dns_subdomain,
)

_DOMAIN_RULE = (
    "a lowercase DNS name such as 'cluster.local', with no scheme, path, port or final dot"
)


def mesh_name(spec: MeshSpec) -> Iterator[Problem]:
    yield from invalid_name("mesh.name", spec.settings.name)


def trust_domain(spec: MeshSpec) -> Iterator[Problem]:
    """The SPIFFE trust domain in every certificate's URI SAN."""
    yield from _domain("mesh.trustDomain", "trust-domain-invalid", spec.settings.trust_domain)


def cluster_domain(spec: MeshSpec) -> Iterator[Problem]:
    """The suffix of every service FQDN (`<svc>.<ns>.svc.<cluster domain>`)."""
    yield from _domain("mesh.clusterDomain", "cluster-domain-invalid", spec.settings.cluster_domain)


def _domain(path: str, code: str, value: str) -> Iterator[Problem]:
    if is_dns_subdomain(value):
        return
    bare = value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].strip().rstrip(".").lower()
    fix = f"write {bare!r}" if is_dns_subdomain(bare) else "write a domain such as 'cluster.local'"
    yield Problem(path, code, _DOMAIN_RULE, repr(value), fix)


def proxy_image(spec: MeshSpec) -> Iterator[Problem]:
    expected = "a container image reference such as 'envoyproxy/envoy:v1.40.0'"
    yield from _image("image", spec.settings.proxy.image, expected, "an Envoy image")


def init_image(spec: MeshSpec) -> Iterator[Problem]:
    expected = "a container image that ships sh, iptables-restore and ip6tables-restore"
    yield from _image("initImage", spec.settings.proxy.init_image, expected, "such an image")


def _image(key: str, image: str, expected: str, what: str) -> Iterator[Problem]:
    if image and not any(c.isspace() for c in image):
        return
    fix = f"set mesh.proxy.{key} to {what}, or leave it out for the default"
    yield Problem(f"mesh.proxy.{key}", "proxy-image-invalid", expected, repr(image), fix)


def drain_seconds(spec: MeshSpec) -> Iterator[Problem]:
    seconds = spec.settings.proxy.drain_seconds
    if 0 <= seconds <= 600:
        return
    fix = "set mesh.proxy.drainSeconds between 0 and 600 (10 is the default)"
    yield Problem(
        "mesh.proxy.drainSeconds", "proxy-drain-invalid", "0 to 600 seconds", str(seconds), fix
    )


def dns_refresh(spec: MeshSpec) -> Iterator[Problem]:
    refresh = spec.settings.proxy.dns_refresh
    low, high = DNS_REFRESH_RANGE
    if low <= refresh <= high:
        return
    fix = f"set mesh.proxy.dnsRefresh between {low} and {high} ({DNS_REFRESH} is the default)"
    yield Problem(
        "mesh.proxy.dnsRefresh", "proxy-dns-refresh-invalid", f"{low} to {high}", str(refresh), fix
    )


_QUANTITY = re.compile(r"(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


def resources(spec: MeshSpec) -> Iterator[Problem]:
    """Kubernetes quantities such as `100m` or `128Mi` ("" leaves one unset)."""
    given = spec.settings.proxy.resources
    for field, key in _RESOURCE_KEYS:
        value = getattr(given, field)
        if value and not _QUANTITY.fullmatch(value):
            path, fix = f"mesh.proxy.resources.{key}", "write a quantity such as '100m' or '128Mi'"
            yield Problem(
                path, "proxy-resources-invalid", "a Kubernetes quantity", repr(value), fix
            )


_RESOURCE_KEYS = (
    ("cpu_request", "cpuRequest"),
    ("memory_request", "memoryRequest"),
    ("cpu_limit", "cpuLimit"),
    ("memory_limit", "memoryLimit"),
)


def interception_ports(spec: MeshSpec) -> Iterator[Problem]:
    given = spec.settings.proxy.interception
    for key, ports in (
        ("outboundPortExclusions", given.outbound_port_exclusions),
        ("inboundPortExclusions", given.inbound_port_exclusions),
    ):
        for index, port in enumerate(ports):
            if not in_port_range(port):
                path, fix = f"mesh.proxy.interception.{key}[{index}]", "use a port from 1 to 65535"
                yield Problem(path, "port-out-of-range", PORT_RANGE_RULE, str(port), fix)


def interception_ranges(spec: MeshSpec) -> Iterator[Problem]:
    """Strict IPv4 CIDRs: `10.1.2.3/8` is refused, not guessed (an exclusion bypasses mTLS)."""
    given = spec.settings.proxy.interception
    for key, ranges in (
        ("outboundIPRangeExclusions", given.outbound_ip_range_exclusions),
        ("outboundIPRangeInclusions", given.outbound_ip_range_inclusions),
    ):
        for index, cidr in enumerate(ranges):
            fix = _cidr_fix(cidr)
            if fix:
                path, expected = f"mesh.proxy.interception.{key}[{index}]", "an IPv4 CIDR"
                yield Problem(path, "cidr-invalid", expected, repr(cidr), fix)


def _cidr_fix(cidr: str) -> str:
    """ "" for a valid IPv4 CIDR, else how to fix it."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        try:
            return f"write '{ipaddress.ip_network(cidr, strict=False)}' for the whole range"
        except ValueError:
            return "write an IPv4 CIDR such as '10.0.0.0/8'"
    return "" if network.version == 4 else "remove it: IPv6 is dropped in meshed pods"


def proxy_uid(spec: MeshSpec) -> Iterator[Problem]:
    uid = spec.settings.proxy.uid
    if uid >= 1:
        return
    expected = "a UID of 1 or more (the sidecar never runs as root; iptables exempts it by UID)"
    fix = "set mesh.proxy.uid to a UID no application container uses, e.g. 1500"
    yield Problem("mesh.proxy.uid", "proxy-uid-invalid", expected, str(uid), fix)


def proxy_concurrency(spec: MeshSpec) -> Iterator[Problem]:
    concurrency = spec.settings.proxy.concurrency
    if concurrency >= 1:
        return
    fix = "set mesh.proxy.concurrency to 1 or more (2 is the default)"
    code = "proxy-concurrency-invalid"
    yield Problem("mesh.proxy.concurrency", code, "1 or more worker threads", str(concurrency), fix)


def proxy_port_ranges(spec: MeshSpec) -> Iterator[Problem]:
    for role, port in spec.settings.proxy.ports.all():
        if not in_port_range(port):
            path, fix = f"mesh.proxy.ports.{role}", "use a port from 1 to 65535"
            yield Problem(path, "port-out-of-range", PORT_RANGE_RULE, str(port), fix)


def proxy_port_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    """Each role after the first that claims a port; the fix names a port nobody uses."""
    pairs = spec.settings.proxy.ports.all()
    taken = {port for _, port in pairs}
    owner: dict[int, str] = {}
    for role, port in pairs:
        if port in owner:
            free = next((p for p in range(max(port, 1), MAX_PORT + 1) if p not in taken), None)
            fix = f"give mesh.proxy.ports.{role} a port of its own" + (
                f", e.g. {free}" if free else ""
            )
            found = f"{port}, also mesh.proxy.ports.{owner[port]}"
            path, expected = f"mesh.proxy.ports.{role}", "a port no other proxy role uses"
            yield Problem(path, "proxy-port-duplicate", expected, found, fix)
        owner.setdefault(port, role)


CODES = (
    "cidr-invalid",
    "cluster-domain-invalid",
    "name-invalid",
    "port-out-of-range",
    "proxy-concurrency-invalid",
    "proxy-drain-invalid",
    "proxy-dns-refresh-invalid",
    "proxy-image-invalid",
    "proxy-port-duplicate",
    "proxy-resources-invalid",
    "proxy-uid-invalid",
    "trust-domain-invalid",
)

CHECKS: tuple[Check, ...] = (
    mesh_name,
    trust_domain,
    cluster_domain,
    proxy_image,
    init_image,
    drain_seconds,
    dns_refresh,
    resources,
    interception_ports,
    interception_ranges,
    proxy_uid,
    proxy_concurrency,
    proxy_port_ranges,
    proxy_port_duplicates,
)
