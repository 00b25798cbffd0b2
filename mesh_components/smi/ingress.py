"""OSM's IngressBackends (`policy.openservicemesh.io/v1alpha1`) as ingress entries.

Each backend of an IngressBackend becomes one entry on the Service it names, at the service port
whose targetPort is `port.number` (OSM matched the target port). `https` backends let their
`AuthenticatedPrincipal` sources (`<sa>.<namespace>.<trust domain>`) in with mTLS; `http` ones
let their `IPRange` sources in, in plaintext. What OSM resolved at run time or what this mesh
cannot enforce (`Service` sources, `skipClientCertValidation`, `sniHosts`, `matches`, ranges on
an https backend) is a problem naming the field, never a silent widening.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.errors import Problem
from mesh_components.model import (
    Identity,
    Ingress,
    IngressSources,
    MeshSettings,
    Service,
    ServicePort,
)
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, MISSING, UNSUPPORTED, Fields
from mesh_components.smi.imported import Note
from mesh_components.validate.ingress import covers_every_address

VERSIONS = ("v1alpha1",)
_SPEC = ("backends", "sources")
_BACKEND = ("name", "port", "tls")
_PORT = ("number", "protocol")
_TLS = ("skipClientCertValidation", "sniHosts")
_SOURCE = ("kind", "name", "namespace")
_REASONS = {
    "matches": (
        "OSM never enforced IngressBackend matches (its issue #3779); remove them, or write the "
        "allowed requests as `http` rules of the imported ingress entry"
    ),
}
_PROTOCOLS = ("http", "https")


@dataclass(frozen=True, slots=True)
class Known:
    """What the rest of the import found: the mesh's Services by (namespace, name), its
    settings, and where notes go."""

    services: dict[tuple[str, str], Service]
    settings: MeshSettings
    notes: list[Note]


def ingress_of(doc: Document, known: Known, problems: list[Problem]) -> list[Ingress]:
    """The entries of one IngressBackend, or [] when it has problems (all reported)."""
    before = len(problems)
    spec = Fields(doc.body.get("spec"), f"{doc.path}.spec", problems, _SPEC, _REASONS)
    backends = spec.entries("backends", _BACKEND, required=True)
    sources = spec.entries("sources", _SOURCE, required=True)
    found = [
        _entry(doc, backend, sources, known, f"{doc.name}-{index}" if len(backends) > 1 else "")
        for index, backend in enumerate(backends)
    ]
    if len(problems) > before:
        return []
    return [entry for entry in found if entry is not None]


def _entry(
    doc: Document, backend: Fields, sources: list[Fields], known: Known, entry_name: str
) -> Ingress | None:
    """One backend's entry, named after the IngressBackend (`<name>-<index>` when it has
    several backends)."""
    name = backend.text("name", required=True)
    port_fields = backend.child("port", _PORT, required=True)
    tls = backend.child("tls", _TLS)
    if tls is not None:
        _tls(tls)
    if name is None or port_fields is None:
        return None
    protocol = _protocol(port_fields)
    service = known.services.get((doc.namespace, name))
    port = None if service is None else _service_port(port_fields, service)
    if service is None:
        fix = f"name a Service of namespace {doc.namespace!r} in the mesh"
        backend.report(backend.at("name"), INVALID, "a mesh Service", repr(name), fix)
    given = _sources(sources, protocol, known, doc.path)
    if port is None or protocol is None or given is None:
        return None
    return Ingress(entry_name or doc.name, doc.namespace, name, (port.port,), given)


def _tls(tls: Fields) -> None:
    skip = tls.read("skipClientCertValidation", bool, "true or false")
    if skip:
        fix = "remove it: a client certificate is always validated here (set it to false)"
        at = tls.at("skipClientCertValidation")
        tls.report(at, UNSUPPORTED, "false", "true", fix)
    if tls.items("sniHosts", str, "host name"):
        fix = (
            "remove it: the backend's sidecar accepts the SNI of its Service's FQDN "
            "(<service>.<namespace>.svc.<cluster domain>); the ingress controller must send it"
        )
        tls.report(tls.at("sniHosts"), UNSUPPORTED, "no sniHosts", "a list", fix)


def _protocol(port: Fields) -> str | None:
    protocol = port.text("protocol", required=True)
    if protocol is None or protocol.lower() in _PROTOCOLS:
        return None if protocol is None else protocol.lower()
    fix = "use https (mTLS with the controller's identity) or http (plaintext from IP ranges)"
    port.report(port.at("protocol"), INVALID, "http or https", repr(protocol), fix)
    return None


def _service_port(port: Fields, service: Service) -> ServicePort | None:
    """OSM's `port.number` is the backend's target port."""
    number = port.number("number", required=True)
    found = [p for p in service.ports if p.target == number]
    if number is not None and len(found) != 1:
        targets = ", ".join(str(p.target) for p in service.ports)
        expected = f"one target port of Service {service.ref} ({targets})"
        fix = "use the port the pods listen on (the Service's targetPort), as OSM did"
        port.report(port.at("number"), INVALID, expected, str(number), fix)
    return found[0] if number is not None and len(found) == 1 else None


def _sources(
    sources: list[Fields], protocol: str | None, known: Known, path: str
) -> IngressSources | None:
    identities: list[Identity] = []
    ranges: list[str] = []
    for source in sources:
        kind, name = source.text("kind", required=True), source.text("name", required=True)
        if kind is None or name is None or protocol is None:
            continue
        if kind == "AuthenticatedPrincipal" and protocol == "https":
            identity = _principal(source, name, known.settings.trust_domain)
            identities += [] if identity is None else [identity]
        elif kind == "IPRange" and protocol == "http":
            ranges.append(name)
        else:
            _unsupported_source(source, kind, protocol)
    if protocol == "http" and not ranges and sources:
        fix = "add an IPRange source: the ingress controller's pod CIDR (OSM let any address in)"
        sources[0].report(f"{path}.spec.sources", MISSING, "an IPRange source", "none", fix)
    everything = [r for r in ranges if covers_every_address(r)]
    if everything:
        found = f"{', '.join(everything)} lets any address in, in plaintext"
        known.notes.append(Note(path, found))
    return IngressSources(
        identities=tuple(identities),
        ip_ranges=tuple(ranges),
        plaintext=bool(ranges),
        any_address=bool(everything),
    )


def _principal(source: Fields, name: str, trust_domain: str) -> Identity | None:
    """OSM's principal `<sa>.<namespace>.<trust domain>`."""
    suffix = f".{trust_domain}"
    account, _, namespace = name.removesuffix(suffix).partition(".")
    if not name.endswith(suffix) or not account or not namespace or "." in namespace:
        expected = f"<serviceaccount>.<namespace>.{trust_domain}"
        fix = (
            "name the ingress controller's ServiceAccount and namespace in the mesh's trust domain"
        )
        source.report(source.at("name"), INVALID, expected, repr(name), fix)
        return None
    return Identity(namespace, account)


def _unsupported_source(source: Fields, kind: str, protocol: str) -> None:
    fixes = {
        "Service": (
            "OSM resolved it to the Service's pod IPs at run time, which a mesh compiled ahead "
            "of time cannot: list the controller's pod CIDR as an IPRange (http), or use https "
            "with its AuthenticatedPrincipal"
        ),
        "AuthenticatedPrincipal": "an identity needs mTLS: set the backend's protocol to https",
        "IPRange": "an https backend lets identities in; use a separate http backend for ranges",
    }
    expected = "AuthenticatedPrincipal (https) or IPRange (http)"
    fix = fixes.get(kind, f"use {expected}")
    source.report(source.at("kind"), UNSUPPORTED, expected, f"{kind!r} on {protocol}", fix)
