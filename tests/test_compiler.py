"""The compiler's decisions, asserted on plans: scoping, splits, domains, access rules, ports."""

from __future__ import annotations

import dataclasses

from mesh_components.compiler import MeshIndex, compile_mesh, port_conflicts
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    ContainerPort,
    HttpRule,
    Identity,
    MeshSettings,
    MeshSpec,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
    Protocol,
    Service,
    ServicePort,
    ServiceRef,
    SplitBackend,
    TrafficSplit,
    Workload,
    labels,
)

HTTP = Protocol.HTTP
TCP = Protocol.TCP


def service(name: str, ns: str, port: int, protocol: Protocol = HTTP, **extra: object) -> Service:
    """`bookstore-v1` selects app=bookstore,version=v1; `mysql` selects app=mysql."""
    app, _, version = name.partition("-")
    selector = labels({"app": app, **({"version": version} if version else {})})
    return Service(name, ns, selector, (ServicePort("p", port, protocol),), **extra)  # type: ignore[arg-type]


def workload(name: str, ns: str, sa: str | None = None, **pod_labels: str) -> Workload:
    return Workload(name, ns, sa or name, labels=labels(pod_labels or {"app": name}))


def policy(
    name: str, ns: str, to: PolicyDestination, *sources: Identity, **extra: object
) -> AccessPolicy:
    return AccessPolicy(name, ns, to, sources, **extra)  # type: ignore[arg-type]


def bookstore(access: AccessMode = AccessMode.POLICY) -> MeshSpec:
    return MeshSpec(
        settings=MeshSettings(name="bookstore", access=access),
        services=(
            service("bookstore", "store", 14001),
            service("bookstore-v1", "store", 14001),
            service("bookstore-v2", "store", 14001),
            service("mysql", "db", 3306, TCP, headless=True),
        ),
        workloads=(
            workload("bookstore-v1", "store", "bookstore", app="bookstore", version="v1"),
            workload("bookstore-v2", "store", "bookstore-v2", app="bookstore", version="v2"),
            workload("bookbuyer", "buyer"),
            workload("bookthief", "thief"),
            workload("mysql", "db"),
        ),
        splits=(
            TrafficSplit(
                "split",
                "store",
                "bookstore",
                (SplitBackend("bookstore-v1", 75), SplitBackend("bookstore-v2", 25)),
            ),
        ),
        policies=(
            policy(
                "buy",
                "store",
                PolicyDestination(service=ServiceRef("store", "bookstore")),
                Identity("buyer", "bookbuyer"),
                http_rules=(HttpRule(PathMatch(PathMatchKind.PREFIX, "/books"), ("GET",)),),
            ),
            policy(
                "db",
                "db",
                PolicyDestination(identity=Identity("db", "mysql")),
                Identity("store", "bookstore"),
                tcp=True,
            ),
        ),
    )


def plan_of(spec: MeshSpec, name: str) -> WorkloadPlan:
    return next(w for w in compile_mesh(spec).workloads if w.workload.name == name)


def reached(plan: WorkloadPlan) -> set[str]:
    return {str(d.service) for port in plan.outbound for d in port.destinations}


def test_policy_mode_gives_a_client_only_the_services_a_policy_lets_it_reach() -> None:
    spec = bookstore()
    assert reached(plan_of(spec, "bookbuyer")) == {
        "store/bookstore",
        "store/bookstore-v1",
        "store/bookstore-v2",
    }
    assert reached(plan_of(spec, "bookstore-v1")) == {"db/mysql"}


def test_a_client_with_no_policy_may_call_nothing() -> None:
    assert plan_of(bookstore(), "bookthief").outbound == ()


def test_open_mode_gives_every_client_every_service() -> None:
    spec = bookstore(AccessMode.OPEN)
    everything = {"store/bookstore", "store/bookstore-v1", "store/bookstore-v2", "db/mysql"}
    assert reached(plan_of(spec, "bookthief")) == everything


def test_a_split_root_becomes_weighted_backends_with_the_declared_weights() -> None:
    (port,) = plan_of(bookstore(), "bookbuyer").outbound
    root = next(d for d in port.destinations if d.service.name == "bookstore")
    assert [(b.upstream.service.name, b.weight) for b in root.backends] == [
        ("bookstore-v1", 75),
        ("bookstore-v2", 25),
    ]
    assert root.backends[1].upstream.sni == "bookstore-v2.store.svc.cluster.local"
    assert root.backends[1].upstream.peer_identities == (
        "spiffe://cluster.local/ns/store/sa/bookstore-v2",
    )


def test_a_clusterip_upstream_resolves_the_headless_companion_by_absolute_name() -> None:
    (port,) = plan_of(bookstore(), "bookbuyer").outbound
    upstream = port.destinations[1].backends[0].upstream
    assert upstream.address == "bookstore-v1-mesh.store.svc.cluster.local."
    assert not upstream.keeps_original_destination


def test_a_headless_upstream_keeps_the_original_destination_and_matches_the_target_port() -> None:
    (port,) = plan_of(bookstore(), "bookstore-v1").outbound
    assert (port.port, port.protocol) == (3306, TCP)
    (destination,) = port.destinations
    assert destination.domains == ()
    assert destination.backends[0].upstream.keeps_original_destination


def test_short_host_names_are_domains_only_within_the_clients_namespace() -> None:
    spec = bookstore(AccessMode.OPEN)
    same_ns = plan_of(spec, "bookstore-v1").outbound
    other_ns = plan_of(spec, "bookbuyer").outbound
    http = next(p for p in same_ns if p.port == 14001)
    assert "bookstore" in http.destinations[0].domains
    assert "bookstore:14001" in http.destinations[0].domains
    assert "bookstore" not in next(p for p in other_ns if p.port == 14001).destinations[0].domains
    assert "bookstore.store.svc.cluster.local:14001" in http.destinations[0].domains


def test_a_pod_accepts_the_sni_of_every_service_that_selects_it() -> None:
    plan = plan_of(bookstore(), "bookstore-v2")
    assert [p.sni for p in plan.inbound] == [
        "bookstore.store.svc.cluster.local",
        "bookstore-v2.store.svc.cluster.local",
    ]


def test_a_policy_on_a_split_root_covers_its_backends_with_one_rule_per_http_match() -> None:
    plan = plan_of(bookstore(), "bookstore-v2")
    for port in plan.inbound:
        assert port.access is not None
        (rule,) = port.access
        assert rule.principals == ("spiffe://cluster.local/ns/buyer/sa/bookbuyer",)
        assert rule.http is not None and rule.http.methods == ("GET",)


def test_open_mode_leaves_inbound_access_to_any_mesh_identity() -> None:
    plan = plan_of(bookstore(AccessMode.OPEN), "mysql")
    assert [p.access for p in plan.inbound] == [None]


def test_a_tcp_only_policy_opens_no_http_port_and_an_http_policy_no_tcp_port() -> None:
    spec = dataclasses.replace(
        bookstore(),
        policies=(
            policy(
                "tcp",
                "store",
                PolicyDestination(service=ServiceRef("store", "bookstore-v1")),
                Identity("buyer", "bookbuyer"),
                tcp=True,
            ),
            policy(
                "http",
                "db",
                PolicyDestination(service=ServiceRef("db", "mysql")),
                Identity("buyer", "bookbuyer"),
                http_rules=(HttpRule(methods=("GET",)),),
            ),
        ),
    )
    assert plan_of(spec, "bookbuyer").outbound == ()
    assert all(p.access == () for p in plan_of(spec, "bookstore-v1").inbound)


def test_a_named_target_port_resolves_to_the_container_port_number() -> None:
    spec = bookstore(AccessMode.OPEN)
    named = Service(
        "bookstore-v1",
        "store",
        labels({"app": "bookstore", "version": "v1"}),
        (ServicePort("p", 14001, HTTP, target_port="web"),),
    )
    pods = Workload(
        "bookstore-v1",
        "store",
        "bookstore",
        labels=labels({"app": "bookstore", "version": "v1"}),
        ports=(ContainerPort(8080, "web"),),
    )
    spec = dataclasses.replace(
        spec,
        services=tuple(named if s.name == "bookstore-v1" else s for s in spec.services),
        workloads=tuple(pods if w.name == "bookstore-v1" else w for w in spec.workloads),
    )
    v1 = next(p for p in plan_of(spec, "bookstore-v1").inbound if p.service.name == "bookstore-v1")
    assert (v1.port, v1.target_port) == (14001, 8080)
    http = next(p for p in plan_of(spec, "bookbuyer").outbound if p.port == 14001)
    root = next(d for d in http.destinations if d.service.name == "bookstore")
    assert root.backends[0].upstream.target_port == 8080


def test_two_tcp_services_on_one_port_for_one_client_are_a_conflict() -> None:
    spec = dataclasses.replace(
        bookstore(AccessMode.OPEN),
        services=(*bookstore().services, service("cache", "db", 3306, TCP)),
        workloads=(*bookstore().workloads, workload("cache", "db")),
    )
    index = MeshIndex.of(spec)
    buyer = next(w for w in spec.workloads if w.name == "bookbuyer")
    assert port_conflicts(index, buyer) == {
        3306: (ServiceRef("db", "cache"), ServiceRef("db", "mysql"))
    }


def _tcp_split_spec(*, allow_both: bool) -> MeshSpec:
    """`pg` split over pg-a and pg-b on TCP 5432; the client may call pg-a (and pg-b)."""
    pods = (
        workload("pg-a", "data", "pg", app="pg", version="a"),
        workload("pg-b", "data", "pg-b", app="pg", version="b"),
    )
    allowed = [Identity("data", "pg")] + ([Identity("data", "pg-b")] if allow_both else [])
    return MeshSpec(
        settings=MeshSettings(name="m"),
        services=(
            service("pg", "data", 5432, TCP),
            service("pg-a", "data", 5432, TCP),
            service("pg-b", "data", 5432, TCP),
        ),
        workloads=(*pods, workload("client", "data")),
        splits=(
            TrafficSplit("pg", "data", "pg", (SplitBackend("pg-a", 50), SplitBackend("pg-b", 50))),
        ),
        policies=tuple(
            policy(
                f"to-{i.service_account}",
                "data",
                PolicyDestination(identity=i),
                Identity("data", "client"),
                tcp=True,
            )
            for i in allowed
        ),
    )


def test_a_tcp_split_root_takes_its_port_when_the_client_may_call_every_backend() -> None:
    spec = _tcp_split_spec(allow_both=True)
    (port,) = plan_of(spec, "client").outbound
    (destination,) = port.destinations
    assert destination.service == ServiceRef("data", "pg")
    assert [b.weight for b in destination.backends] == [50, 50]


def test_a_tcp_split_root_never_takes_over_a_backend_the_client_may_call_alone() -> None:
    spec = _tcp_split_spec(allow_both=False)
    client = next(w for w in spec.workloads if w.name == "client")
    conflicts = port_conflicts(MeshIndex.of(spec), client)
    assert conflicts == {5432: (ServiceRef("data", "pg"), ServiceRef("data", "pg-a"))}
