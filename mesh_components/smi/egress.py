"""OSM's Egress policies (`policy.openservicemesh.io` v1alpha1) as the mesh's egress rules.

One rule per source ServiceAccount, in the source's namespace (what OSM applied the policy to).
Each port's protocol says what `hosts` and `ipAddresses` mean, as OSM read them:

    http   hosts by Host header                     (ipAddresses: a problem)
    https  hosts by SNI, or else ipAddresses by range
    tcp    ipAddresses by range, or else any address on the port (hosts: ignored, a note)

`matches` (HTTP route groups narrowing the allowed requests) cannot be expressed: a problem,
since dropping it would allow more than OSM did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from mesh_components.errors import Problem
from mesh_components.model import EgressAddresses, EgressHosts, EgressRule
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, Fields
from mesh_components.smi.imported import Note

VERSIONS = ("v1alpha1",)
ANY_ADDRESS = "0.0.0.0/0"
_PROTOCOLS = ("http", "https", "tcp")
_REASONS = {
    "matches": (
        "route matches on egress are not supported: remove `matches` to allow every request "
        "to these hosts, or keep the Egress out of the import"
    )
}


def egress_rules_of(doc: Document, problems: list[Problem], notes: list[Note]) -> list[EgressRule]:
    """The rules one Egress stands for, or [] when it has problems."""
    before = len(problems)
    allowed = ("sources", "hosts", "ipAddresses", "ports")
    spec = Fields(doc.body.get("spec"), f"{doc.path}.spec", problems, allowed, _REASONS)
    sources = [
        _source(entry) for entry in spec.entries("sources", ("kind", "name", "namespace"), True)
    ]
    hosts = tuple(spec.items("hosts", str, "host name"))
    cidrs = tuple(spec.items("ipAddresses", str, "CIDR"))
    ports = [_port(entry) for entry in spec.entries("ports", ("number", "protocol"), True)]
    by_protocol: dict[str, tuple[int, ...]] = {}
    for protocol, number in (p for p in ports if p is not None):
        by_protocol[protocol] = (*by_protocol.get(protocol, ()), number)
    allowed_out = _allowances(spec, by_protocol, hosts, cidrs, notes)
    if len(problems) > before or allowed_out is None:
        return []
    accounts = [s for s in sources if s is not None]
    shared = Counter(namespace for namespace, _ in accounts)
    return [
        replace(
            allowed_out,
            name=doc.name if shared[namespace] == 1 else f"{doc.name}-{account}",
            namespace=namespace,
            service_account=account,
        )
        for namespace, account in accounts
    ]


def _source(entry: Fields) -> tuple[str, str] | None:
    kind = entry.text("kind", required=True)
    name, namespace = entry.text("name", required=True), entry.text("namespace", required=True)
    if kind is not None and kind != "ServiceAccount":
        fix = "name the ServiceAccounts the pods run as"
        entry.report(entry.at("kind"), INVALID, "ServiceAccount", repr(kind), fix)
        return None
    return None if name is None or namespace is None else (namespace, name)


def _port(entry: Fields) -> tuple[str, int] | None:
    number, protocol = entry.number("number", required=True), entry.text("protocol", True)
    if protocol is not None and protocol.lower() not in _PROTOCOLS:
        expected = f"one of {', '.join(_PROTOCOLS)}"
        fix = "OSM's Egress knows only these protocols"
        entry.report(entry.at("protocol"), INVALID, expected, repr(protocol), fix)
        return None
    return None if number is None or protocol is None else (protocol.lower(), number)


def _allowances(
    spec: Fields,
    ports: dict[str, tuple[int, ...]],
    hosts: tuple[str, ...],
    cidrs: tuple[str, ...],
    notes: list[Note],
) -> EgressRule | None:
    """What the policy allows, as a rule without a name or scope yet."""
    found = EgressRule("", "")
    if "http" in ports:
        if cidrs or not hosts:
            _needs_hosts(spec, "http")
            return None
        found = replace(found, http=EgressHosts(hosts, ports["http"]))
    by_address = ports.get("tcp", ())
    if "https" in ports:
        if hosts:
            found = replace(found, tls=EgressHosts(hosts, ports["https"]))
        else:
            by_address = (*ports["https"], *by_address)
    if "tcp" in ports and hosts:
        notes.append(Note(spec.at("hosts"), "ignored on tcp ports, as OSM ignored it"))
    if by_address:
        found = replace(found, tcp=EgressAddresses(cidrs or (ANY_ADDRESS,), by_address))
    return found


def _needs_hosts(spec: Fields, protocol: str) -> None:
    spec.report(
        spec.at("hosts"),
        INVALID,
        f"host names for {protocol} ports (matched against the Host header)",
        "IP ranges or no hosts",
        "list the hosts, and put IP ranges in an Egress of their own on tcp ports",
    )
