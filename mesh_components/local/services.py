"""Services as the API server and the endpoints controller see them: ClusterIPs and endpoints.

A ClusterIP is allocated from the service range unless `spec.clusterIP` names one, and kept
for the Service's life, as the API server does (`observed_view` takes the one a real API
server allocated). A Service's `Backend`s are its Ready endpoints, each with the pod port of
every Service port: worked out from the pods a Service selects (`backends`, the local runner
without an API server), or read from the EndpointSlices the controller manager wrote
(`slice_backends`, the node of a real control plane).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.local.manifests import label, matches, namespace_of
from mesh_components.local.network import DNS_IP, SERVICE_CIDR
from mesh_components.model.service import infer_protocol


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    port: int
    protocol: str
    target: int | str
    app_protocol: str


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What kube-proxy and the cluster DNS need of one Service."""

    namespace: str
    name: str
    cluster_ip: str | None  # None: headless
    selector: tuple[tuple[str, str], ...]
    ports: tuple[ServicePort, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


@dataclass(frozen=True, slots=True)
class PodEndpoint:
    """A pod as endpoints see it."""

    namespace: str
    name: str
    ip: str
    labels: dict[str, str]
    ready: bool
    named_ports: dict[str, int]
    hostname: str
    subdomain: str


@dataclass(frozen=True, slots=True)
class Backend:
    """One Ready endpoint of a Service."""

    ip: str
    hostname: str  # set when the pod is addressable as `hostname.<service>` (its subdomain)
    ports: dict[str, int]  # Service port name ("" when unnamed) → the pod's port


BackendsOf = Callable[[ServiceView], list[Backend]]


class ServiceAllocator:
    """Hands out ClusterIPs: honours `spec.clusterIP`, keeps each Service's across updates."""

    def __init__(self) -> None:
        self._by_service: dict[tuple[str, str], str] = {}
        self._next = int(SERVICE_CIDR.network_address) + 1
        self._next_kept = self._next

    def views(self, services: Iterable[Json]) -> list[ServiceView]:
        """Every Service with its ClusterIP; a conflict or bad address raises listing all."""
        problems: list[Problem] = []
        kept, self._next_kept = dict(self._by_service), self._next
        views = [self._view(svc, problems) for svc in services]
        if problems:
            self._by_service, self._next = kept, self._next_kept
            raise MeshValidationError(problems)
        live = {view.key for view in views}
        self._by_service = {k: v for k, v in self._by_service.items() if k in live}
        return views

    def _view(self, service: Json, problems: list[Problem]) -> ServiceView:
        spec = service.get("spec") or {}
        key = (namespace_of(service), service["metadata"]["name"])
        wanted = spec.get("clusterIP")
        if wanted == "None":
            self._by_service.pop(key, None)
            cluster_ip = None
        else:
            cluster_ip = self._assign(key, wanted, label(service), problems)
        return _view(service, cluster_ip)

    def _assign(
        self, key: tuple[str, str], wanted: str | None, where: str, problems: list[Problem]
    ) -> str:
        taken = {ip for k, ip in self._by_service.items() if k != key} | {str(DNS_IP)}
        if wanted:
            try:
                ipaddress.IPv4Address(wanted)
            except ValueError:
                problems.append(
                    Problem(
                        f"{where}.spec.clusterIP",
                        "local-ip-invalid",
                        "an IPv4 address or None",
                        wanted,
                    )
                )
                return wanted
            if wanted in taken:
                problems.append(
                    Problem(
                        f"{where}.spec.clusterIP",
                        "local-ip-taken",
                        "an address no other Service has",
                        wanted,
                        "remove spec.clusterIP to get one allocated",
                    )
                )
            self._by_service[key] = wanted
            return wanted
        if key in self._by_service:
            return self._by_service[key]
        while str(ipaddress.IPv4Address(self._next)) in taken:
            self._next += 1
        address = str(ipaddress.IPv4Address(self._next))
        self._next += 1
        self._by_service[key] = address
        return address


def observed_view(service: Json) -> ServiceView:
    """A Service as a real API server stored it, ClusterIP allocated."""
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    return _view(service, None if cluster_ip in (None, "", "None") else str(cluster_ip))


def _view(service: Json, cluster_ip: str | None) -> ServiceView:
    spec = service.get("spec") or {}
    selector = tuple(sorted((spec.get("selector") or {}).items()))
    ports = tuple(_port(p) for p in spec.get("ports") or [])
    meta = service["metadata"]
    namespace = str(meta.get("namespace") or "default")
    return ServiceView(namespace, meta["name"], cluster_ip, selector, ports)


def _port(port: Json) -> ServicePort:
    return ServicePort(
        name=str(port.get("name", "")),
        port=int(port["port"]),
        protocol=str(port.get("protocol", "TCP")),
        target=_target(port.get("targetPort", port["port"])),
        app_protocol=str(port.get("appProtocol", "")),
    )


def _target(value: object) -> int | str:
    return value if isinstance(value, int) else str(value)


def selects(service: ServiceView, pod: PodEndpoint) -> bool:
    return service.namespace == pod.namespace and matches(service.selector, pod.labels)


def target_port(port: ServicePort, pod: PodEndpoint) -> int | None:
    """The pod port a Service port forwards to (a named target resolved on that pod)."""
    if isinstance(port.target, int) or str(port.target).isdigit():
        return int(port.target)
    return pod.named_ports.get(str(port.target))


def backends(service: ServiceView, pods: Iterable[PodEndpoint]) -> list[Backend]:
    """The Ready pods `service` selects, sorted by IP, with its ports resolved on each."""
    chosen = sorted(
        (pod for pod in pods if pod.ready and selects(service, pod)),
        key=lambda pod: ipaddress.IPv4Address(pod.ip),
    )
    return [
        Backend(
            pod.ip,
            pod.hostname if pod.subdomain == service.name else "",
            {p.name: t for p in service.ports if (t := target_port(p, pod)) is not None},
        )
        for pod in chosen
    ]


def slice_backends(service: ServiceView, slices: Iterable[Json]) -> list[Backend]:
    """The Ready endpoints of `service` in its EndpointSlices, sorted by IP and deduplicated."""
    found: dict[str, Backend] = {}
    for piece in slices:
        meta = piece.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") != service.namespace or labels.get(SERVICE_NAME) != service.name:
            continue
        ports = {str(p.get("name") or ""): int(p["port"]) for p in piece.get("ports") or []}
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                found[address] = Backend(address, str(endpoint.get("hostname") or ""), ports)
    return [found[ip] for ip in sorted(found, key=ipaddress.IPv4Address)]


SERVICE_NAME = "kubernetes.io/service-name"


def is_tcp_port(port: ServicePort) -> bool:
    """Whether a port carries raw TCP rather than HTTP (the mesh's own rule, by hint)."""
    hint = port.app_protocol.lower() or port.name.lower().split("-", 1)[0]
    return hint in ("tcp", "mysql", "mongo", "redis", "postgres", "postgresql")


def stub_protocol(port: ServicePort) -> str:
    """What the stub app serves on a port: "tcp" (greeting, then echo), "grpc" (HTTP/2, which
    the sidecar speaks to grpc, http2 and h2c ports, as the mesh infers them) or "http"."""
    if is_tcp_port(port):
        return "tcp"
    http2 = infer_protocol(port.name, port.app_protocol or None).needs_http2_upstream
    return "grpc" if http2 else "http"


def resolve(
    name: str, domain: str, services: Iterable[ServiceView], backends_of: BackendsOf
) -> list[str] | None:
    """A DNS name's addresses: a Service's ClusterIP, a headless Service's Ready pods, or a
    pod by hostname and subdomain; None when the name does not exist."""
    suffix = f".svc.{domain}"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    for service in services:
        if parts == [service.name, service.namespace]:
            if service.cluster_ip is not None:
                return [service.cluster_ip]
            return [b.ip for b in backends_of(service)]
        if len(parts) == 3 and parts[1:] == [service.name, service.namespace]:
            found = [b.ip for b in backends_of(service) if b.hostname == parts[0]]
            if found:
                return found
    return None
