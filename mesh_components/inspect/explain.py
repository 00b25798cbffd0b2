"""`explain`: follow one request through the emitted config, as Envoy would.

Client side: the outbound listener and its chain (by destination port), the virtual host (by
Host), the route and its weighted clusters. Server side, per backend: the pods that accept the
upstream's SNI, their inbound chain, the TLS peer checks and the RBAC decision, naming the
policy that allows the request or saying why none does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh_components import names
from mesh_components.emit.envoy.types import Json
from mesh_components.inspect import envoy_read as read
from mesh_components.inspect import reach
from mesh_components.inspect.matching import (
    Connection,
    full_match,
    normalized_path,
    select_chain,
    select_route,
    select_virtual_host,
)
from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.inspect.rbac_eval import Subject, decide


class Verdict(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    UNROUTABLE = "unroutable"


@dataclass(frozen=True, slots=True)
class Request:
    """The request to follow. `headers` holds lower-case names, `host` included."""

    host: str
    port: int
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def host_header(self) -> str:
        """What the client sends as Host: an explicit `host` header, else `host[:port]`."""
        given = dict(self.headers).get("host")
        if given is not None:
            return given
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return host if self.port == 80 else f"{host}:{self.port}"

    def subject(self, principal: str | None, path: str | None = None) -> Subject:
        """What RBAC sees; `path` as the connection manager normalized it."""
        seen = self.path if path is None else path
        pseudo = {":method": self.method, ":path": seen, ":authority": self.host_header}
        return Subject(principal, {**dict(self.headers), **pseudo})


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the trace: what Envoy looked at, and what it found."""

    what: str
    found: str


@dataclass(frozen=True, slots=True)
class ServerSide:
    """One serving workload's decision for one backend."""

    workload: str
    identity: str
    steps: tuple[Step, ...]
    allowed: bool


@dataclass(frozen=True, slots=True)
class Backend:
    cluster: str
    weight: int | None
    steps: tuple[Step, ...]
    servers: tuple[ServerSide, ...]

    @property
    def carries_traffic(self) -> bool:
        return self.weight is None or self.weight > 0

    @property
    def allowed(self) -> bool:
        return bool(self.servers) and all(s.allowed for s in self.servers)


@dataclass(frozen=True, slots=True)
class Explanation:
    client: str
    identity: str
    request: Request
    http: bool
    steps: tuple[Step, ...]
    backends: tuple[Backend, ...]
    verdict: Verdict
    summary: str
    hypothetical: tuple[ServerSide, ...] = field(default=())


def explain(mesh: InspectedMesh, client: Proxy, request: Request) -> Explanation:
    """The trace of `request` from `client`, and its verdict."""
    tracer = _Tracer(mesh, client, request)
    return tracer.run()


@dataclass(frozen=True, slots=True)
class _Stop:
    """The request ends on the client side."""

    verdict: Verdict
    reason: str
    before_routing: bool = False
    """No destination was chosen: show what the named host's servers would decide."""


Targets = list[tuple[str, int | None]]


@dataclass
class _Tracer:
    mesh: InspectedMesh
    client: Proxy
    request: Request
    steps: list[Step] = field(default_factory=list)
    http: bool = False

    def run(self) -> Explanation:
        targets = self._client_side()
        if not isinstance(targets, _Stop):
            targets = _outside_the_mesh(targets, self.steps)
        if isinstance(targets, _Stop):
            servers = tuple(self._servers_of_host()) if targets.before_routing else ()
            return self._done((), targets.verdict, targets.reason, servers)
        backends = tuple(self._backend(name, weight) for name, weight in targets)
        return self._done(backends, *_verdict(backends))

    def _done(
        self,
        backends: tuple[Backend, ...],
        verdict: Verdict,
        summary: str,
        hypothetical: tuple[ServerSide, ...] = (),
    ) -> Explanation:
        return Explanation(
            client=str(self.client.workload),
            identity=self.client.spiffe_id,
            request=self.request,
            http=self.http,
            steps=tuple(self.steps),
            backends=backends,
            verdict=verdict,
            summary=summary,
            hypothetical=hypothetical,
        )

    def _note(self, what: str, found: str) -> None:
        self.steps.append(Step(what, found))

    def _client_side(self) -> Targets | _Stop:
        """The weighted clusters the request goes to, or why it goes nowhere."""
        listener = reach.listener(self.client, names.OUTBOUND_LISTENER)
        if listener is None:
            self._note("listener", "none: this sidecar has no outbound listener")
            return _Stop(
                Verdict.UNROUTABLE,
                "no outbound listener: this workload may call nothing (no policy names it as a "
                "source), so its connections are refused in its own pod",
                before_routing=True,
            )
        where = f"{listener['name']} {read.address(listener)}"
        self._note("listener", f"{where} (iptables redirects the app's connection here)")
        chain = _outbound_chain(listener, self.request)
        passthrough = chain is not None and chain["name"] == names.EGRESS_PASSTHROUGH_CHAIN
        if chain is None or (chain is read.default_chain(listener) and not passthrough):
            self._note(
                "chain", f"{names.OUTBOUND_DENY_CHAIN}: no chain for port {self.request.port}"
            )
            reason = f"port {self.request.port} is not a port this workload may call"
            return _Stop(Verdict.UNROUTABLE, f"{reason}: the deny chain closes the connection")
        self._note("chain", f"{chain['name']} ({read.chain_match(chain)})")
        manager = read.http_manager(chain)
        if manager is None:
            return self._tcp(chain)
        self.http = True
        return self._http(manager["route_config"])

    def _tcp(self, chain: Json) -> Targets:
        proxy = read.tcp_proxy(chain) or {}
        self._note("filter", "tcp_proxy (TCP: no Host, path or method is read)")
        return read.route_target(proxy)

    def _http(self, route_config: Json) -> Targets | _Stop:
        host = self.request.host_header.rstrip(".")
        self._note("filter", f"http_connection_manager, route config {route_config['name']}")
        chosen = select_virtual_host(route_config, host)
        if chosen is None:
            return _Stop(Verdict.UNROUTABLE, f"no virtual host for Host {host}: Envoy answers 404")
        virtual_host, domain = chosen
        self._note(
            "virtual host", f"{virtual_host['name']} (Host {host} matches domain {domain!r})"
        )
        route = select_route(virtual_host, self.request.path, self.request.subject(None).headers)
        if route is None:
            reason = f"no route in {virtual_host['name']} for {self.request.path}"
            return _Stop(Verdict.UNROUTABLE, f"{reason}: Envoy answers 404")
        self._note("route", f"{read.route_match(route['match'])}")
        if "direct_response" in route:
            status = route["direct_response"]["status"]
            reason = f"denied at the client: Envoy answers {status}"
            hint = _hint(host, self.client, self.mesh)
            return _Stop(Verdict.DENIED, f"{reason} from {hint}", before_routing=True)
        return read.route_target(route["route"])

    def _backend(self, cluster_name: str, weight: int | None) -> Backend:
        cluster = next((c for c in self.client.clusters if c["name"] == cluster_name), None)
        if cluster is None:
            return Backend(
                cluster_name,
                weight,
                (Step("cluster", "missing from CDS (an inconsistent config)"),),
                (),
            )
        steps, connection, sans = _upstream(cluster, self.request.port)
        servers = tuple(
            self._server(p, connection, sans) for p in reach.servers(self.mesh, connection)
        )
        if not servers:
            steps.append(
                Step(
                    "servers", f"no workload accepts SNI {connection.sni} on port {connection.port}"
                )
            )
        return Backend(cluster_name, weight, tuple(steps), servers)

    def _server(
        self, server: Proxy, connection: Connection, client_sans: list[str] | None
    ) -> ServerSide:
        """`client_sans` None: no client cluster (the hypothetical case), so no client check."""
        listener = reach.listener(server, names.INBOUND_LISTENER)
        chain = select_chain(listener or {}, connection)
        steps = [Step("chain", f"{chain['name']} ({read.chain_match(chain)})")] if chain else []
        checks = []
        if client_sans is not None:
            checks.append(_san_check("client checks server", server.spiffe_id, client_sans))
        server_sans = read.san_matchers(
            (chain or {}).get("transport_socket", {}).get("typed_config", {})
        )
        checks.append(_san_check("server checks client", self.client.spiffe_id, server_sans))
        steps += [Step("tls", text) for text, _ in checks]
        allowed = chain is not None and all(ok for _, ok in checks)
        if allowed and chain is not None:
            rbac_steps, allowed = self._rbac(chain)
            steps += rbac_steps
        return ServerSide(str(server.workload), server.spiffe_id, tuple(steps), allowed)

    def _rbac(self, chain: Json) -> tuple[list[Step], bool]:
        rules = read.rbac_rules(chain)
        if rules is None:
            return [Step("rbac", "no RBAC filter: any mesh identity may call (access: open)")], True
        manager = read.http_manager(chain)
        principal = self.client.spiffe_id
        steps = []
        if manager is None:
            subject = Subject(principal)
        else:
            path = normalized_path(self.request.path, manager)
            if path != self.request.path:
                steps.append(Step("path", f"normalized to {path} before RBAC sees it"))
            subject = self.request.subject(principal, path)
        decision = decide(rules, subject)
        http = manager is not None
        for verdict in decision.verdicts:
            mark = "matches" if verdict.matched else "does not match"
            steps.append(Step("policy", f"{verdict.policy} {mark}: {'; '.join(verdict.reasons)}"))
        if decision.allowed:
            steps.append(Step("rbac", f"ALLOWED by policy {decision.policy}"))
        elif not decision.verdicts:
            steps.append(Step("rbac", "DENIED: no policy opens this port to anyone"))
        else:
            what = "this request" if http else "this peer"
            steps.append(Step("rbac", f"DENIED: no policy matches {what}"))
        return steps, decision.allowed

    def _servers_of_host(self) -> list[ServerSide]:
        """What the pods serving the named host would decide for this client: its chains for
        the requested port when there are some, else all of them."""
        found = [
            (server, chain)
            for server in self.mesh.proxies
            for chain in reach.inbound_chains(server)
            if _names_service(self.request.host, reach.sni(chain), self.client)
        ]
        on_port = [(s, c) for s, c in found if reach.port_of(c) == self.request.port]
        return [self._server(s, reach.connection(c), None) for s, c in on_port or found]


def _outbound_chain(listener: Json, request: Request) -> Json | None:
    """The chain the app's connection lands on: as TLS with SNI = the host when a chain on the
    port names that SNI (an egress TLS host: the app speaks TLS to it), else as plaintext."""
    tls = Connection(request.port, "tls", request.host, request.host)
    chain = select_chain(listener, tls)
    if chain is not None and chain.get("filter_chain_match", {}).get("server_names"):
        return chain
    return select_chain(listener, Connection(request.port, address=request.host))


def _outside_the_mesh(targets: Targets, steps: list[Step]) -> Targets | _Stop:
    """An egress cluster ends the trace: the destination has no sidecar to ask."""
    egress = [name for name, _ in targets if name.startswith(names.EGRESS_CLUSTER_PREFIX)]
    if not egress:
        return targets
    how = {
        names.EGRESS_HTTP_CLUSTER: "Envoy resolves the Host and connects there",
        names.EGRESS_TLS_CLUSTER: "Envoy resolves the SNI and connects there",
        names.EGRESS_PASSTHROUGH_CLUSTER: "to the address the app dialled",
    }
    steps.append(Step("egress", f"{egress[0]}: out of the mesh, {how.get(egress[0], '')}"))
    return _Stop(Verdict.ALLOWED, "allowed out of the mesh (docs/egress.md), without mTLS")


def _upstream(cluster: Json, dialled_port: int) -> tuple[list[Step], Connection, list[str]]:
    """How the client's sidecar connects: the pod port, the SNI it sends, the SANs it accepts."""
    kind = read.cluster_kind(cluster)
    found = read.endpoints(cluster)
    port = int(found[0].rpartition(":")[2]) if found else dialled_port
    where = ", ".join(found) if found else f"the pod the app dialled, port {dialled_port}"
    sni, sans = read.upstream_tls(cluster) or ("", [])
    steps = [
        Step("upstream", f"{cluster['name']}: {kind} {where}, mTLS with SNI {sni or '(none)'}")
    ]
    return steps, Connection(port, "tls" if sni else "raw_buffer", sni), sans


def _san_check(label: str, identity: str, matchers: list[str]) -> tuple[str, bool]:
    if not matchers:
        return f"{label}: no SAN check", True
    ok = any(_san_matches(m, identity) for m in matchers)
    verdict = "accepted" if ok else "REJECTED (handshake fails)"
    return f"{label}: {identity} {verdict} by {' or '.join(matchers)}", ok


def _san_matches(matcher: str, identity: str) -> bool:
    op, _, value = matcher.partition(" ")
    if op == "=":
        return identity == value
    if op == "^=":
        return identity.startswith(value)
    return full_match(value, identity)


def _names_service(host: str, sni: str, client: Proxy) -> bool:
    """Whether `host` (as an app would write it) names the service whose FQDN is `sni`."""
    host = host.rstrip(".").lower()
    if sni == host or sni.startswith(f"{host}.svc."):
        return True
    return "." not in host and sni.startswith(f"{host}.{client.workload.namespace}.svc.")


def _hint(host: str, client: Proxy, mesh: InspectedMesh) -> str:
    bare = host.split(":", maxsplit=1)[0]
    if "." in bare:
        return "the catch-all virtual host: this host is not a destination this workload may call"
    found = sorted(
        {
            ".".join(reach.sni(chain).split(".")[:2])
            for proxy in mesh.proxies
            for chain in reach.inbound_chains(proxy)
            if reach.sni(chain).split(".")[0] == bare
        }
    )
    fix = f"write {' or '.join(found)}" if found else "no service of that name is in the mesh"
    return (
        f"the catch-all virtual host: a bare name like {bare!r} only names services in the "
        f"client's own namespace {client.workload.namespace}; {fix}"
    )


def _verdict(backends: tuple[Backend, ...]) -> tuple[Verdict, str]:
    live = [b for b in backends if b.carries_traffic]
    denied = [b for b in live if not b.allowed]
    if not live:
        return Verdict.UNROUTABLE, "every backend has weight 0"
    if not denied:
        return (
            Verdict.ALLOWED,
            f"allowed on {len(live)} of {len(live)} backend(s) that carry traffic",
        )
    share = _share(denied, backends)
    return (
        Verdict.DENIED,
        f"denied on {len(denied)} of {len(live)} backend(s) ({share} of requests)",
    )


def _share(chosen: list[Backend], backends: tuple[Backend, ...]) -> str:
    if len(backends) == 1 or backends[0].weight is None:
        return "100%"
    total = sum(b.weight or 0 for b in backends)
    return f"{100 * sum(b.weight or 0 for b in chosen) / total:.0f}%"
