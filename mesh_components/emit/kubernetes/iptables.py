"""The init container's interception rules, as data: one `Rule` per line, each saying why.

IPv4 TCP goes through the sidecar (inbound 15003, outbound 15001). UDP is never redirected:
Envoy cannot proxy it here. IPv6 is closed rather than left outside the mesh (OSM's bug), since
the sidecar listens on IPv4 only. `render` writes the input of `iptables-restore`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

from mesh_components import names
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model.metrics import MAX_PORT, parsed_port
from mesh_components.model.settings import Interception, MeshSettings

NAT = "nat"
FILTER = "filter"
CHAIN_PREFIX = "MESH_"
INBOUND = "MESH_INBOUND"
REDIRECT_INBOUND = "MESH_REDIRECT_INBOUND"
OUTBOUND = "MESH_OUTBOUND"
REDIRECT_OUTBOUND = "MESH_REDIRECT_OUTBOUND"
IPV6_INPUT = "MESH_IPV6_INPUT"
IPV6_OUTPUT = "MESH_IPV6_OUTPUT"
LOOPBACK_V4 = "127.0.0.0/8"
DNS_PORT = 53
NEIGHBOUR_DISCOVERY = (
    "router-solicitation",
    "router-advertisement",
    "neighbour-solicitation",
    "neighbour-advertisement",
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One `-A` line of an `iptables-restore` table, and why it is there."""

    table: str
    chain: str
    args: tuple[str, ...]
    why: str

    @property
    def target(self) -> str:
        """The chain or target after `-j`."""
        return self.args[self.args.index("-j") + 1]

    def line(self) -> str:
        return " ".join(("-A", self.chain, *self.args))


def _nat(chain: str, args: tuple[str, ...], why: str) -> Rule:
    return Rule(NAT, chain, args, why)


def _filter(chain: str, args: tuple[str, ...], why: str) -> Rule:
    return Rule(FILTER, chain, args, why)


def _tcp_port(port: int, target: str) -> tuple[str, ...]:
    return ("-p", "tcp", "--dport", str(port), "-j", target)


def _owner(uid: str) -> tuple[str, ...]:
    return ("-m", "owner", "--uid-owner", uid)


def ipv4_rules(
    settings: MeshSettings, interception: Interception, probe_ports: tuple[int, ...]
) -> tuple[Rule, ...]:
    """The nat table: inbound TCP to the inbound listener, outbound TCP to the outbound one."""
    inbound = _inbound(settings, interception, probe_ports)
    return (*inbound, *_outbound(settings, interception))


def _inbound(
    settings: MeshSettings, interception: Interception, probe_ports: tuple[int, ...]
) -> Iterator[Rule]:
    ports = settings.proxy.ports
    yield _nat(
        "PREROUTING",
        ("-p", "tcp", "-j", INBOUND),
        "TCP arriving from outside the pod is checked for the sidecar's inbound listener",
    )
    yield _nat(
        INBOUND,
        _tcp_port(ports.prometheus, "RETURN"),
        "Prometheus scrapes the sidecar's metrics port in plaintext from outside the mesh",
    )
    for port in sorted(set(probe_ports)):
        why = "the kubelet's rewritten probes reach this sidecar probe listener in plaintext"
        yield _nat(INBOUND, _tcp_port(port, "RETURN"), why)
    for port in sorted(set(interception.inbound_port_exclusions)):
        why = "inbound port excluded from the mesh: the app answers it directly, without mTLS"
        yield _nat(INBOUND, _tcp_port(port, "RETURN"), why)
    yield from _inbound_redirect(settings)


def _inbound_redirect(settings: MeshSettings) -> Iterator[Rule]:
    ports = settings.proxy.ports
    yield _nat(
        INBOUND,
        ("-p", "tcp", "-j", REDIRECT_INBOUND),
        f"everything else gets mTLS and policy, admin port {ports.admin} included "
        "(it binds 127.0.0.1 only, so a caller from outside must find nothing there)",
    )
    yield _nat(
        REDIRECT_INBOUND,
        ("-p", "tcp", "-j", "REDIRECT", "--to-ports", str(ports.inbound)),
        "the inbound listener reads the original port back (original_dst); "
        "REDIRECT needs no route_localnet, unlike DNAT to 127.0.0.1",
    )


def _outbound(settings: MeshSettings, interception: Interception) -> Iterator[Rule]:
    yield _nat(
        "OUTPUT",
        ("-p", "tcp", "-j", OUTBOUND),
        "TCP opened inside the pod is checked for the sidecar's outbound listener",
    )
    yield from _outbound_exemptions(settings)
    yield from _outbound_exclusions(interception)
    yield from _outbound_redirects(interception)
    yield _nat(
        REDIRECT_OUTBOUND,
        ("-p", "tcp", "-j", "REDIRECT", "--to-ports", str(settings.proxy.ports.outbound)),
        "the outbound listener picks the destination by its original port (original_dst); "
        "REDIRECT needs no route_localnet",
    )


def _outbound_exemptions(settings: MeshSettings) -> Iterator[Rule]:
    """The sidecar's own traffic, loopback and DNS: in this order, before any redirect."""
    uid = str(settings.proxy.uid)
    yield _nat(
        OUTBOUND,
        ("-p", "tcp", "-o", "lo", "!", "-d", LOOPBACK_V4, *_owner(uid), "-j", INBOUND),
        "the sidecar calling this pod's own IP (the app called its own service) enters through "
        "the inbound listener, or the app gets TLS bytes; loopback skips nat PREROUTING",
    )
    yield _nat(
        OUTBOUND,
        ("-p", "tcp", *_owner(uid), "-j", "RETURN"),
        "the sidecar's own connections are never redirected, or it loops on itself; "
        "this precedes every outbound redirect",
    )
    yield _nat(
        OUTBOUND,
        ("-p", "tcp", "-d", LOOPBACK_V4, "-j", "RETURN"),
        "loopback never leaves the pod (the sidecar's admin, other containers): nothing to "
        "secure; the whole 127.0.0.0/8 routes to lo",
    )
    yield _nat(
        OUTBOUND,
        _tcp_port(DNS_PORT, "RETURN"),
        "DNS over TCP (large or truncated answers) must reach the cluster DNS, which is not a "
        "mesh service; UDP is never redirected",
    )


def _outbound_exclusions(interception: Interception) -> Iterator[Rule]:
    for port in sorted(set(interception.outbound_port_exclusions)):
        why = "outbound port excluded from the mesh: the app reaches it directly, without mTLS"
        yield _nat(OUTBOUND, _tcp_port(port, "RETURN"), why)
    for cidr in dict.fromkeys(interception.outbound_ip_range_exclusions):
        why = "address range excluded from the mesh: reached directly, even if also included"
        yield _nat(OUTBOUND, ("-p", "tcp", "-d", cidr, "-j", "RETURN"), why)


def _outbound_redirects(interception: Interception) -> Iterator[Rule]:
    inclusions = tuple(dict.fromkeys(interception.outbound_ip_range_inclusions))
    if not inclusions:
        why = "every other destination, this pod's own IP included, goes through the sidecar"
        yield _nat(OUTBOUND, ("-p", "tcp", "-j", REDIRECT_OUTBOUND), why)
    for cidr in inclusions:
        why = "included range goes through the sidecar; other destinations fall off the chain"
        yield _nat(OUTBOUND, ("-p", "tcp", "-d", cidr, "-j", REDIRECT_OUTBOUND), why)


def ipv6_rules(
    settings: MeshSettings, interception: Interception, probe_ports: tuple[int, ...]
) -> tuple[Rule, ...]:
    """The filter table: IPv6 closed both ways, except loopback and neighbour discovery.

    The sidecar listens on IPv4 only, so an open IPv6 would bypass mTLS and policy. Exclusions
    and probes do not reopen it, and the sidecar's UID gets no exemption: it has no use for IPv6.
    """
    del interception, probe_ports  # Same signature as ipv4_rules; IPv6 is closed regardless.
    uid = settings.proxy.uid
    return (
        *_ipv6_open("INPUT", IPV6_INPUT, "-i"),
        _filter(IPV6_INPUT, ("-j", "DROP"), "any other IPv6 into the pod is dropped, unanswered"),
        *_ipv6_open("OUTPUT", IPV6_OUTPUT, "-o"),
        _filter(
            IPV6_OUTPUT,
            ("-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"),
            f"IPv6 TCP out of the pod, the sidecar's (UID {uid}) too, is refused at once: "
            "DROP would hang connect() for minutes instead of letting the app fall back to IPv4",
        ),
        _filter(
            IPV6_OUTPUT,
            ("-j", "DROP"),
            "any other IPv6 out of the pod is dropped (a UDP send fails at once with EPERM)",
        ),
    )


def _ipv6_open(builtin: str, chain: str, interface: str) -> Iterator[Rule]:
    """What stays open: loopback, and neighbour discovery."""
    yield _filter(
        builtin,
        ("-j", chain),
        "the sidecar listens on IPv4 only, so IPv6 would bypass it: closed, not left open",
    )
    yield _filter(
        chain,
        (interface, "lo", "-j", "ACCEPT"),
        "loopback never leaves the pod; it also carries the TCP reset that refuses a connect",
    )
    for kind in NEIGHBOUR_DISCOVERY:
        yield _filter(
            chain,
            ("-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", kind, "-j", "ACCEPT"),
            "neighbour discovery carries no application data and keeps the link's IPv6 state sane",
        )


def render(rules: Iterable[Rule]) -> str:
    """`iptables-restore` input: one block per table, custom chains declared, a why per rule."""
    ordered = tuple(rules)
    tables = dict.fromkeys(rule.table for rule in ordered)
    return "".join(_table(table, [r for r in ordered if r.table == table]) for table in tables)


def _table(table: str, rules: list[Rule]) -> str:
    used = (chain for rule in rules for chain in (rule.chain, rule.target))
    chains = dict.fromkeys(chain for chain in used if chain.startswith(CHAIN_PREFIX))
    lines = [f"*{table}", *(f":{chain} - [0:0]" for chain in chains)]
    for rule in rules:
        lines += [f"# {rule.why}", rule.line()]
    return "\n".join([*lines, "COMMIT"]) + "\n"


# Per-workload interception: the mesh-wide lists plus the pod's annotations.

_PORT_RULE = "comma-separated port numbers from 1 to 65535, such as '5432, 6379'"
_CIDR_RULE = "comma-separated IPv4 CIDRs or addresses, such as '10.0.0.0/8, 169.254.169.254'"


def interception_for(settings: MeshSettings, annotations: Mapping[str, str]) -> Interception:
    """The mesh-wide lists merged with the pod's annotations, sorted and without repeats.

    Every bad value is reported at once, as `annotation-invalid` with the annotation as path.
    """
    mesh, problems = settings.proxy.interception, list[Problem]()
    ports = partial(_ports, annotations, problems)
    cidrs = partial(_cidrs, annotations, problems)
    result = Interception(
        outbound_port_exclusions=ports(
            names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION, mesh.outbound_port_exclusions
        ),
        inbound_port_exclusions=ports(
            names.INBOUND_PORT_EXCLUSIONS_ANNOTATION, mesh.inbound_port_exclusions
        ),
        outbound_ip_range_exclusions=cidrs(
            names.OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION, mesh.outbound_ip_range_exclusions
        ),
        outbound_ip_range_inclusions=cidrs(
            names.OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION, mesh.outbound_ip_range_inclusions
        ),
    )
    if problems:
        raise MeshValidationError(problems)
    return result


def _items(annotations: Mapping[str, str], key: str) -> list[str]:
    """The annotation's comma-separated items, whitespace and empty items ignored."""
    return [item.strip() for item in annotations.get(key, "").split(",") if item.strip()]


def _ports(
    annotations: Mapping[str, str], problems: list[Problem], key: str, base: tuple[int, ...]
) -> tuple[int, ...]:
    ports = set(base)
    for item in _items(annotations, key):
        port = parsed_port(item)
        if port is not None:
            ports.add(port)
        else:
            fix = f"write each port as a number from 1 to {MAX_PORT} (ranges are not supported)"
            problems.append(Problem(key, "annotation-invalid", _PORT_RULE, repr(item), fix))
    return tuple(sorted(ports))


def _cidrs(
    annotations: Mapping[str, str], problems: list[Problem], key: str, base: tuple[str, ...]
) -> tuple[str, ...]:
    cidrs = set(base)
    for item in _items(annotations, key):
        cidr, fix = _cidr(item)
        if fix:
            problems.append(Problem(key, "annotation-invalid", _CIDR_RULE, repr(item), fix))
        else:
            cidrs.add(cidr)
    return tuple(sorted(cidrs, key=_cidr_order))


def _cidr(item: str) -> tuple[str, str]:
    """(the normalised CIDR, "") or ("", a fix).

    Strict: `10.1.2.3/8` is refused rather than read as `10.0.0.0/8`. The two readings differ
    by millions of addresses, and an exclusion bypasses mTLS, so we do not guess.
    """
    try:
        network = ipaddress.ip_network(item, strict=True)
    except ValueError:
        return "", _cidr_fix(item)
    if network.version != 4:
        return "", "remove it: IPv6 is dropped in a meshed pod, so it is never redirected"
    return str(network), ""


def _cidr_fix(item: str) -> str:
    try:
        loose = ipaddress.ip_network(item, strict=False)
    except ValueError:
        return "write an IPv4 CIDR such as '10.0.0.0/8', or one address such as '10.1.2.3'"
    address = item.split("/", 1)[0]
    return f"write '{loose}' for the whole range, or '{address}/32' for one address"


def _cidr_order(cidr: str) -> tuple[int, int, int, str]:
    """Numeric order, so 9.0.0.0/8 sorts before 10.0.0.0/8; anything unparsable goes last."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return (1, 0, 0, cidr)
    return (0, int(network.network_address), network.prefixlen, cidr)
