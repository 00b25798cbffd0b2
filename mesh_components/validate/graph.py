"""Checks on the resolved mesh graph: what each workload would accept and reach.

They need a sound declaration to resolve (selectors, target ports, splits), so they run only
when every other check passed; otherwise they would repeat the same mistakes as noise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mesh_components.compiler import MeshIndex, port_conflicts
from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, MtlsMode, Workload
from mesh_components.validate._common import Check, service_path, workload_path


def graph_problems(spec: MeshSpec) -> Iterator[Problem]:
    """Every graph problem, resolving the mesh once."""
    index = MeshIndex.of(spec)
    yield from outbound_ports(index)
    yield from inbound_ports(index)


def outbound_ports(index: MeshIndex) -> Iterator[Problem]:
    """Two services a client may reach on one port, which no chain match can tell apart."""
    for workload in index.spec.workloads:
        for port, services in port_conflicts(index, workload).items():
            found = ", ".join(service_path(s) for s in services)
            yield Problem(
                path=workload_path(workload),
                code="outbound-port-conflict",
                expected=f"one TCP service, or only HTTP-family services, on port {port}",
                found=f"it may reach {found} on port {port}",
                fix="move one service to another port, or scope this workload's access with "
                "policies so it reaches only one of them",
            )


def inbound_ports(index: MeshIndex) -> Iterator[Problem]:
    """Each pod port must be one (service, port) per SNI, and one protocol in permissive mode."""
    for workload in index.spec.workloads:
        yield from _inbound_problems(index, workload)


def _inbound_problems(index: MeshIndex, workload: Workload) -> Iterator[Problem]:
    by_target: dict[int, list[tuple[str, int, bool]]] = defaultdict(list)
    for ref in index.services_of_workload.get(workload.ref, ()):
        for port in index.services[ref].ports:
            target = index.target_port(ref, port)
            by_target[target].append((service_path(ref), port.port, port.protocol.is_http))
    for target, users in sorted(by_target.items()):
        for path in sorted({p for p, _, _ in users if sum(u[0] == p for u in users) > 1}):
            yield _shared_target(path, target, workload)
        permissive = index.spec.settings.mtls is MtlsMode.PERMISSIVE
        if permissive and len({http for _, _, http in users}) > 1:
            yield _mixed_protocols(workload, target, sorted({p for p, _, _ in users}))


def _shared_target(path: str, target: int, workload: Workload) -> Problem:
    return Problem(
        path=f"{path}.ports",
        code="service-target-port-shared",
        expected="each port of a service on its own pod port",
        found=f"two ports of the service reach port {target} of {workload_path(workload)}",
        fix="remove one of the two ports, or point it at another container port",
    )


def _mixed_protocols(workload: Workload, target: int, paths: list[str]) -> Problem:
    return Problem(
        path=workload_path(workload),
        code="inbound-protocol-conflict",
        expected=f"one protocol family on pod port {target} (plaintext has no SNI to tell them)",
        found=f"HTTP and TCP services on it: {', '.join(paths)}",
        fix="declare the same protocol on these ports, or use mesh.mtls: strict",
    )


CODES = ("inbound-protocol-conflict", "outbound-port-conflict", "service-target-port-shared")

CHECKS: tuple[Check, ...] = (graph_problems,)
