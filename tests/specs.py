"""A small valid mesh built from the model, and helpers that change one object of it.

Namespace `shop` serves `web` (HTTP, split 50/50 between web-v1 and web-v2) and `db` (TCP, a
named target port); namespace `client` runs `buyer`. Access is in policy mode: buyer may GET
/books on web, and web may reach db on 5432.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    ContainerPort,
    HeaderMatch,
    HttpRule,
    Identity,
    MeshSettings,
    MeshSpec,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
    Probe,
    ProbeAction,
    ProbeKind,
    Protocol,
    Service,
    ServicePort,
    ServiceRef,
    SplitBackend,
    TrafficSplit,
    Workload,
    WorkloadKind,
    labels,
)

T = TypeVar("T", Service, Workload, TrafficSplit, AccessPolicy)

HTTP_PORT = ServicePort("http", 8080, Protocol.HTTP)
DB_PORT = ServicePort("tcp-postgres", 5432, Protocol.TCP, target_port="postgres")


def web_version(version: str) -> Workload:
    return Workload(
        name=f"web-{version}",
        namespace="shop",
        service_account="web",
        labels=labels({"app": "web", "version": version}),
        ports=(ContainerPort(8080, "http"),),
        probes=(Probe(ProbeKind.READINESS, "web", ProbeAction.HTTP, 8080, "/healthz"),),
    )


def base_spec() -> MeshSpec:
    """A valid mesh: find_problems(base_spec()) == ()."""
    return MeshSpec(
        settings=MeshSettings(name="mesh", access=AccessMode.POLICY),
        services=(
            Service("web", "shop", labels({"app": "web"}), (HTTP_PORT,)),
            Service("web-v1", "shop", labels({"app": "web", "version": "v1"}), (HTTP_PORT,)),
            Service("web-v2", "shop", labels({"app": "web", "version": "v2"}), (HTTP_PORT,)),
            Service("db", "shop", labels({"app": "db"}), (DB_PORT,)),
        ),
        workloads=(
            web_version("v1"),
            web_version("v2"),
            Workload(
                name="db",
                namespace="shop",
                service_account="db",
                kind=WorkloadKind.STATEFUL_SET,
                labels=labels({"app": "db"}),
                ports=(ContainerPort(5432, "postgres"),),
                probes=(Probe(ProbeKind.LIVENESS, "db", ProbeAction.TCP, 5432),),
            ),
            Workload("buyer", "client", "buyer", labels=labels({"app": "buyer"})),
        ),
        splits=(
            TrafficSplit(
                "web-split", "shop", "web", (SplitBackend("web-v1", 50), SplitBackend("web-v2", 50))
            ),
        ),
        policies=(
            AccessPolicy(
                name="buyer-to-web",
                namespace="shop",
                destination=PolicyDestination(service=ServiceRef("shop", "web")),
                sources=(Identity("client", "buyer"),),
                http_rules=(
                    HttpRule(
                        path=PathMatch(PathMatchKind.PREFIX, "/books"),
                        methods=("GET",),
                        headers=(HeaderMatch("x-client", "buyer-.*"),),
                    ),
                ),
            ),
            AccessPolicy(
                name="web-to-db",
                namespace="shop",
                destination=PolicyDestination(identity=Identity("shop", "db")),
                sources=(Identity("shop", "web"),),
                tcp=True,
                tcp_ports=(5432,),
            ),
        ),
    )


def _changed(items: tuple[T, ...], ref: str, changes: dict[str, Any]) -> tuple[T, ...]:
    """`items` with the one item named `namespace/name` replaced; a typo fails the test loudly."""
    namespace, name = ref.split("/")
    matches = [item for item in items if (item.namespace, item.name) == (namespace, name)]
    assert len(matches) == 1, f"no single {ref} in the base spec"
    return tuple(replace(i, **changes) if i is matches[0] else i for i in items)


def change_settings(spec: MeshSpec, **changes: Any) -> MeshSpec:
    return replace(spec, settings=replace(spec.settings, **changes))


def change_proxy(spec: MeshSpec, **changes: Any) -> MeshSpec:
    return change_settings(spec, proxy=replace(spec.settings.proxy, **changes))


def change_proxy_ports(spec: MeshSpec, **changes: Any) -> MeshSpec:
    return change_proxy(spec, ports=replace(spec.settings.proxy.ports, **changes))


def change_service(spec: MeshSpec, ref: str, **changes: Any) -> MeshSpec:
    return replace(spec, services=_changed(spec.services, ref, changes))


def change_service_port(spec: MeshSpec, ref: str, index: int, **changes: Any) -> MeshSpec:
    ports = list(_one(spec.services, ref).ports)
    ports[index] = replace(ports[index], **changes)
    return change_service(spec, ref, ports=tuple(ports))


def change_workload(spec: MeshSpec, ref: str, **changes: Any) -> MeshSpec:
    return replace(spec, workloads=_changed(spec.workloads, ref, changes))


def change_split(spec: MeshSpec, ref: str, **changes: Any) -> MeshSpec:
    return replace(spec, splits=_changed(spec.splits, ref, changes))


def change_backend(spec: MeshSpec, ref: str, index: int, **changes: Any) -> MeshSpec:
    backends = list(_one(spec.splits, ref).backends)
    backends[index] = replace(backends[index], **changes)
    return change_split(spec, ref, backends=tuple(backends))


def change_policy(spec: MeshSpec, ref: str, **changes: Any) -> MeshSpec:
    return replace(spec, policies=_changed(spec.policies, ref, changes))


def change_rule(spec: MeshSpec, ref: str, **changes: Any) -> MeshSpec:
    """Change the first HTTP rule of policy `ref`."""
    rules = _one(spec.policies, ref).http_rules
    return change_policy(spec, ref, http_rules=(replace(rules[0], **changes), *rules[1:]))


def add(spec: MeshSpec, *items: Service | Workload | TrafficSplit | AccessPolicy) -> MeshSpec:
    """`spec` with more objects, each appended to its own collection."""
    for item in items:
        if isinstance(item, Service):
            spec = replace(spec, services=(*spec.services, item))
        elif isinstance(item, Workload):
            spec = replace(spec, workloads=(*spec.workloads, item))
        elif isinstance(item, TrafficSplit):
            spec = replace(spec, splits=(*spec.splits, item))
        else:
            spec = replace(spec, policies=(*spec.policies, item))
    return spec


def _one(items: tuple[T, ...], ref: str) -> T:
    namespace, name = ref.split("/")
    return next(item for item in items if (item.namespace, item.name) == (namespace, name))
