"""The mesh as a graph: who may call which service, on which port and for which requests.

Read from the emitted config: a client's outbound routes say what it addresses (and a split's
weights), the serving pods' inbound RBAC says whether it is allowed. A call a client is routed
to but every server denies is a denied edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh_components import names
from mesh_components.emit.envoy.types import Json
from mesh_components.inspect import envoy_read as read
from mesh_components.inspect import reach
from mesh_components.inspect.matching import Connection, select_chain
from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.validate._common import is_dns_label


class NodeKind(enum.StrEnum):
    SERVICE = "service"
    WORKLOAD = "workload"


class EdgeKind(enum.StrEnum):
    CALL = "call"
    """Allowed: the label lists the port and the requests RBAC allows."""
    DENIED = "denied"
    """The client is routed there, but every serving pod's RBAC denies it."""
    SPLIT = "split"
    """A root service's traffic share to a backend."""
    ADDRESSES = "addresses"
    """A client addresses a split's root; its backends' edges say what is allowed."""
    SERVES = "serves"
    """A service's pods are this workload's."""


@dataclass(frozen=True, order=True, slots=True)
class Node:
    namespace: str
    kind: NodeKind
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True, slots=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    label: str


@dataclass(frozen=True, slots=True)
class MeshGraph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def namespaces(self) -> list[str]:
        return sorted({node.namespace for node in self.nodes})


def mesh_graph(mesh: InspectedMesh) -> MeshGraph:
    builder = _Builder(mesh)
    for proxy in mesh.proxies:
        builder.add_proxy(proxy)
    return MeshGraph(tuple(sorted(builder.nodes)), tuple(sorted(builder.edges)))


@dataclass
class _Builder:
    mesh: InspectedMesh
    nodes: set[Node] = field(default_factory=set)
    edges: set[Edge] = field(default_factory=set)

    def add_proxy(self, proxy: Proxy) -> None:
        workload = Node(proxy.workload.namespace, NodeKind.WORKLOAD, proxy.workload.name)
        self.nodes.add(workload)
        for chain in reach.inbound_chains(proxy):
            if reach.sni(chain):  # a plaintext or passthrough chain names no mesh service
                self._edge(_service_of_sni(reach.sni(chain)), workload, EdgeKind.SERVES, "")
        for port, targets in _destinations(proxy):
            self._calls(proxy, workload, port, targets)

    def _edge(self, source: Node, target: Node, kind: EdgeKind, label: str) -> None:
        self.nodes.update((source, target))
        self.edges.add(Edge(source.key, target.key, kind, label))

    def _calls(self, client: Proxy, workload: Node, port: int, targets: Targets) -> None:
        """The calls to mesh services; a destination outside the mesh (egress, a plaintext
        service of a permissive mesh) is not drawn."""
        if not all(read.upstream_tls(_cluster(client, name)) for name, _ in targets):
            return
        backends = [(_backend(client, name, port), weight) for name, weight in targets]
        for connection, service in (backend for backend, _ in backends):
            allowed = _allowed_requests(self.mesh, client, connection)
            kind = EdgeKind.CALL if allowed else EdgeKind.DENIED
            label = f":{port} {', '.join(allowed)}" if allowed else f":{port} denied"
            self._edge(workload, service, kind, label)
        root = _root_of(client, targets) if len(backends) > 1 else None
        if root is None:
            return
        self._edge(workload, root, EdgeKind.ADDRESSES, f":{port}")
        total = sum(weight or 0 for _, weight in targets)
        for (_, service), weight in backends:
            share = f"{100 * (weight or 0) / total:.0f}%" if total else "0%"
            self._edge(root, service, EdgeKind.SPLIT, f"{weight} ({share})")


def _service_of_sni(sni: str) -> Node:
    """`name.namespace.svc.<cluster domain>` is the service's FQDN."""
    name, namespace = sni.split(".")[:2]
    return _service(namespace, name, f"SNI {sni!r}")


def _service(namespace: str, name: str, given: str) -> Node:
    """A service node; its names are drawn, so they must be Kubernetes names (a config read
    back from files could hold anything, and LookupError makes that a problem)."""
    if not (is_dns_label(namespace) and is_dns_label(name)):
        raise LookupError(f"{given}, which names no Kubernetes service")
    return Node(namespace, NodeKind.SERVICE, name)


Targets = list[tuple[str, int | None]]


def _destinations(proxy: Proxy) -> list[tuple[int, Targets]]:
    """(port, weighted clusters) of every outbound route and TCP chain, deny routes excluded."""
    outbound = reach.listener(proxy, names.OUTBOUND_LISTENER)
    found = []
    for chain in (outbound or {}).get("filter_chains", []):
        port = int(chain["filter_chain_match"]["destination_port"])
        manager = read.http_manager(chain)
        if manager is None:
            found.append((port, read.route_target(read.tcp_proxy(chain) or {})))
            continue
        for host in manager["route_config"]["virtual_hosts"]:
            found += [(port, read.route_target(r["route"])) for r in host["routes"] if "route" in r]
    return found


def _backend(client: Proxy, cluster_name: str, port: int) -> tuple[Connection, Node]:
    cluster = _cluster(client, cluster_name)
    endpoints = read.endpoints(cluster)
    target_port = int(endpoints[0].rpartition(":")[2]) if endpoints else port
    sni, _ = read.upstream_tls(cluster) or ("", [])
    return Connection(target_port, "tls", sni), _service_of_sni(sni)


def _cluster(client: Proxy, name: str) -> Json:
    """The client's cluster that a route names; LookupError when it has none (a config read
    back from files could lack it)."""
    for cluster in client.clusters:
        if cluster["name"] == name:
            return cluster
    raise LookupError(f"no cluster {name!r}, which a route of {client.workload} names")


def _root_of(client: Proxy, targets: Targets) -> Node | None:
    """The split root whose virtual host routes to exactly these weighted clusters."""
    for site in read.route_sites(client.listeners):
        for host in site.route_config["virtual_hosts"]:
            routes = [r for r in host["routes"] if "route" in r]
            if any(read.route_target(r["route"]) == targets for r in routes):
                namespace, _, name = host["name"].partition("/")
                return _service(namespace, name, f"virtual host {host['name']!r}")
    return None


def _allowed_requests(mesh: InspectedMesh, client: Proxy, connection: Connection) -> list[str]:
    """What the serving pods' RBAC lets this client do, as short labels; empty when denied."""
    found: set[str] = set()
    for server in reach.servers(mesh, connection):
        chain = select_chain(reach.listener(server, names.INBOUND_LISTENER) or {}, connection)
        if chain is not None:
            found.update(_chain_allows(chain, client.spiffe_id))
    return sorted(found)


def _chain_allows(chain: Json, principal: str) -> list[str]:
    rules = read.rbac_rules(chain)
    if rules is None:
        return ["any request"]
    return [
        read.compact_permission(permission)
        for body in rules.get("policies", {}).values()
        if any(_names_principal(p, principal) for p in body.get("principals", []))
        for permission in body.get("permissions", [])
    ]


def _names_principal(principal: Json, spiffe_id: str) -> bool:
    if principal.get("any"):
        return True
    matcher = principal.get("authenticated", {}).get("principal_name", {})
    return bool(matcher.get("exact") == spiffe_id)
