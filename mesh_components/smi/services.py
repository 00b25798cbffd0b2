"""Kubernetes Services as mesh services: name, selector, ports and protocols, headless or not.

Fields the mesh recreates differently are problems: a Service it cannot represent (NodePort,
LoadBalancer, ExternalName, session affinity, UDP) would otherwise come back changed. Values a
cluster fills in by itself (an allocated clusterIP, the default policies) are accepted.
Protocols: `appProtocol` (including OSM's `tcp-server-first`), then the port name, then HTTP.
The name is read as Istio and Linkerd users write it (`grpc`, `tcp-db`, `http2`), a superset of
OSM's prefixes; a note says where OSM would have made the port something else. An unnamed port
(Kubernetes allows one) is named after its protocol and number, `http-8080`, which is how the
mesh's Service will name it.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import Protocol, Service, ServicePort, infer_protocol, labels
from mesh_components.model.service import app_protocol_hint
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import INVALID, WRONG_TYPE, Fields, describe
from mesh_components.smi.imported import Note

_DEFAULTS: dict[str, object] = {
    "type": "ClusterIP",
    "sessionAffinity": "None",
    "internalTrafficPolicy": "Cluster",
    "ipFamilyPolicy": "SingleStack",
    "ipFamilies": ["IPv4"],
    "publishNotReadyAddresses": False,
}
_ALLOCATED = ("clusterIP", "clusterIPs")
_SPEC = ("ports", "selector", *_ALLOCATED, *_DEFAULTS)
_PORT = ("name", "port", "targetPort", "protocol", "appProtocol")
_REASONS = {
    "externalName": "an ExternalName Service is not a mesh service: remove it from the input",
    "loadBalancerIP": "mesh services are ClusterIP Services; expose them through an ingress",
    "externalIPs": "mesh services are ClusterIP Services; expose them through an ingress",
    "externalTrafficPolicy": "mesh services are ClusterIP Services",
    "sessionAffinityConfig": "session affinity is not supported; sidecars balance per request",
    "nodePort": "mesh services are ClusterIP Services; expose them through an ingress",
}
_SERVER_FIRST = "tcp-server-first"


def service_of(doc: Document, problems: list[Problem], notes: list[Note]) -> Service | None:
    """The mesh's view of a Service manifest, or None when it has problems."""
    before = len(problems)
    spec = Fields(doc.body.get("spec"), f"{doc.path}.spec", problems, _SPEC, _REASONS)
    problems.extend(_defaults(spec))
    ports = [_port(entry, notes) for entry in spec.entries("ports", _PORT, required=True)]
    selector = _selector(spec)
    cluster_ip = spec.text("clusterIP")
    if len(problems) > before or None in ports:
        return None
    found = tuple(port for port in ports if port is not None)
    headless = cluster_ip == "None"
    return Service(doc.name, doc.namespace, labels(selector), found, headless=headless)


def _selector(spec: Fields) -> dict[str, str]:
    """The equality selector: labels, so strings only (the API server refuses others)."""
    found = spec.read("selector", dict, "a mapping") or {}
    for key, value in found.items():
        if not isinstance(value, str):
            fix = "quote it: label values are strings"
            spec.report(
                f"{spec.at('selector')}[{key}]", WRONG_TYPE, "a string", describe(value), fix
            )
    return {key: value for key, value in found.items() if isinstance(value, str)}


def _defaults(spec: Fields) -> Iterator[Problem]:
    """Fields the mesh's Service would not keep, unless they hold Kubernetes' defaults."""
    for key, default in _DEFAULTS.items():
        if key in spec.raw and spec.raw[key] != default:
            fix = _REASONS.get(key, f"remove it (the mesh's Service has {key}: {default!r})")
            if key == "type":
                fix = "mesh services are ClusterIP Services; expose them through an ingress"
            yield Problem(spec.at(key), INVALID, repr(default), repr(spec.raw[key]), fix)


def _port(entry: Fields, notes: list[Note]) -> ServicePort | None:
    number, name = entry.number("port", required=True), entry.text("name")
    target = entry.raw.get("targetPort")
    app_protocol, transport = entry.text("appProtocol"), entry.text("protocol")
    if transport not in (None, "TCP"):
        fix = "the mesh proxies TCP only: leave this port out of the mesh's Services"
        entry.report(entry.at("protocol"), INVALID, "TCP", repr(transport), fix)
        return None
    if not isinstance(target, int | str | None) or isinstance(target, bool) or number is None:
        if number is not None:
            found = repr(target)
            entry.report(entry.at("targetPort"), INVALID, "a number or a port name", found)
        return None
    protocol = _protocol(name or "", app_protocol)
    if app_protocol_hint(app_protocol) is None and protocol is not _osm_protocol(name or ""):
        notes.append(_not_as_osm(entry.path, name or "", protocol))
    if name is None:
        name = f"{protocol.value}-{number}"
        notes.append(Note(entry.path, f"unnamed port {number} is named {name!r} in the mesh"))
    return ServicePort(name, number, protocol, target)


def _protocol(name: str, app_protocol: str | None) -> Protocol:
    """OSM's rule, including its `tcp-server-first` (plain TCP here: no sniffing to stall)."""
    if app_protocol is not None and app_protocol.lower() == _SERVER_FIRST:
        return Protocol.TCP
    if name.startswith(f"{_SERVER_FIRST}-"):
        return Protocol.TCP
    return infer_protocol(name, app_protocol)


def _osm_protocol(name: str) -> Protocol:
    """What OSM made of a port by its name: only the prefixes `http-`, `tcp-` and `grpc-`
    counted, anything else was HTTP (`GetAppProtocolFromPortName`)."""
    for prefix, protocol in (("tcp-", Protocol.TCP), ("grpc-", Protocol.GRPC)):
        if name.lower().startswith(prefix):
            return protocol
    return Protocol.HTTP


def _not_as_osm(path: str, name: str, protocol: Protocol) -> Note:
    """The mesh reads a name as Istio and Linkerd users write it (`grpc`, `tcp`, `http2-api`);
    where that differs from what OSM made of it, the import says so."""
    osm = _osm_protocol(name).value
    message = (
        f"port name {name!r} makes it {protocol.value} here; OSM read only the prefixes http-, "
        f"grpc- and tcp- and made it {osm} (set appProtocol to choose)"
    )
    return Note(path, message)
