"""Checks of workloads: names, the ServiceAccount (the identity), labels, ports and probes.

Container and probe ports must not collide with the ports the sidecar owns in the same pod, and
a pod's probes must be ones its sidecar's probe listeners can tell apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, Probe, ProbeAction
from mesh_components.validate._common import (
    PORT_NAME_RULE,
    Check,
    app_port_problems,
    duplicates,
    invalid_name,
    is_port_name,
    label_problems,
    port_name_fix,
    repeated,
    reserved_ports,
    suggest_name,
    workload_path,
)


def workload_names(spec: MeshSpec) -> Iterator[Problem]:
    """Namespaces and ServiceAccounts are DNS labels; workload names may be DNS subdomains."""
    for workload in spec.workloads:
        at = workload_path(workload)
        yield from invalid_name(f"{at}.namespace", workload.namespace)
        yield from invalid_name(f"{at}.name", workload.name, subdomain=True)
        if workload.service_account:
            yield from invalid_name(f"{at}.serviceAccount", workload.service_account)


def workload_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    refs = ((w.namespace, w.name) for w in spec.workloads)
    yield from duplicates("workloads", "workload", refs)


def service_accounts(spec: MeshSpec) -> Iterator[Problem]:
    """The ServiceAccount is the identity; an empty one would silently run pods as `default`."""
    for workload in spec.workloads:
        if not workload.service_account:
            path = f"{workload_path(workload)}.serviceAccount"
            expected = "a ServiceAccount name (the workload's identity)"
            account = suggest_name(workload.name.split(".")[0]) or "web"
            fix = f"set serviceAccount to the ServiceAccount its pods run as, e.g. {account!r}"
            yield Problem(path, "workload-no-service-account", expected, "''", fix)


MAX_REPLICAS = 2**31 - 1  # Kubernetes keeps replicas as an int32


def workload_replicas(spec: MeshSpec) -> Iterator[Problem]:
    for workload in spec.workloads:
        replicas = workload.app.replicas
        if not 0 <= replicas <= MAX_REPLICAS:
            path = f"{workload_path(workload)}.replicas"
            expected = f"a whole number from 0 to {MAX_REPLICAS}"
            fix = "set replicas to how many pods should run (0 stops them all)"
            yield Problem(path, "workload-replicas-invalid", expected, str(replicas), fix)


def workload_labels(spec: MeshSpec) -> Iterator[Problem]:
    for workload in spec.workloads:
        yield from label_problems(f"{workload_path(workload)}.labels", workload.labels)


def container_ports(spec: MeshSpec) -> Iterator[Problem]:
    reserved = reserved_ports(spec)
    for workload in spec.workloads:
        for index, port in enumerate(workload.ports):
            at = f"{workload_path(workload)}.ports[{index}]"
            yield from app_port_problems(f"{at}.containerPort", port.port, reserved)
            if port.name is not None and not is_port_name(port.name):
                fix = port_name_fix(port.name)
                yield Problem(
                    f"{at}.name", "port-name-invalid", PORT_NAME_RULE, repr(port.name), fix
                )


def container_port_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    for workload in spec.workloads:
        at = f"{workload_path(workload)}.ports"
        for index, number in repeated(port.port for port in workload.ports):
            path, fix = f"{at}[{index}].containerPort", f"remove or renumber {at}[{index}]"
            yield Problem(
                path, "workload-port-duplicate", "each port number once", str(number), fix
            )
        for index, name in repeated(port.name for port in workload.ports):
            if name is not None:
                path, fix = f"{at}[{index}].name", f"rename {at}[{index}]"
                yield Problem(
                    path, "workload-port-duplicate", "each port name once", repr(name), fix
                )


def probe_ports(spec: MeshSpec) -> Iterator[Problem]:
    reserved = reserved_ports(spec)
    for workload in spec.workloads:
        for index, probe in enumerate(workload.probes):
            path = f"{workload_path(workload)}.probes[{index}].port"
            yield from app_port_problems(path, probe.port, reserved)


def probe_paths(spec: MeshSpec) -> Iterator[Problem]:
    for workload in spec.workloads:
        for index, probe in enumerate(workload.probes):
            if probe.action is ProbeAction.HTTP and not probe.path.startswith("/"):
                path = f"{workload_path(workload)}.probes[{index}].path"
                fix = f"write {'/' + probe.path!r}"
                yield Problem(
                    path, "probe-path-invalid", "a path starting with '/'", repr(probe.path), fix
                )


def probe_containers(spec: MeshSpec) -> Iterator[Problem]:
    """A probe's container name becomes its path on the sidecar (`/<container>`)."""
    for workload in spec.workloads:
        for index, probe in enumerate(workload.probes):
            path = f"{workload_path(workload)}.probes[{index}].container"
            yield from invalid_name(path, probe.container)


def probe_conflicts(spec: MeshSpec) -> Iterator[Problem]:
    for workload in spec.workloads:
        at = f"{workload_path(workload)}.probes"
        paths = [f"{at}[{index}]" for index in range(len(workload.probes))]
        yield from pod_probe_problems(workload.probes, paths)


def pod_probe_problems(probes: Sequence[Probe], paths: Sequence[str]) -> Iterator[Problem]:
    """Probes of one pod that its sidecar's probe listeners could not tell apart. Shared with
    injection, which reads probes from a pod spec; `paths[i]` locates the i-th probe."""
    for index, probe in enumerate(probes):
        earlier = probes[:index]
        if any(p.kind is probe.kind and p.container == probe.container for p in earlier):
            yield _probe_duplicate(paths[index], probe)
        elif probe.action is ProbeAction.GRPC and _grpc_before(probe, earlier):
            yield _grpc_conflict(paths[index], probe)
        elif probe.action is ProbeAction.TCP and _other_tcp_port(probe, earlier):
            yield _tcp_port_conflict(paths[index], probe)


def _grpc_before(probe: Probe, earlier: Sequence[Probe]) -> bool:
    return any(p.kind is probe.kind and p.action is ProbeAction.GRPC for p in earlier)


def _other_tcp_port(probe: Probe, earlier: Sequence[Probe]) -> bool:
    return any(
        p.action is ProbeAction.TCP and p.container == probe.container and p.port != probe.port
        for p in earlier
    )


def _probe_duplicate(path: str, probe: Probe) -> Problem:
    expected = "at most one probe of each kind per container"
    found = f"a second {probe.kind.value} probe of container {probe.container!r}"
    return Problem(path, "probe-duplicate", expected, found, "remove one of them")


def _grpc_conflict(path: str, probe: Probe) -> Problem:
    expected = f"one gRPC {probe.kind.value} probe per pod: gRPC probes carry no path to tell apart"
    found = f"a second gRPC {probe.kind.value} probe, of {probe.container!r}"
    fix = "probe one of the containers with another kind, tcpSocket or exec"
    return Problem(path, "probe-grpc-conflict", expected, found, fix)


def _tcp_port_conflict(path: str, probe: Probe) -> Problem:
    expected = "the tcpSocket probes of one container on one port (they share its health path)"
    found = f"container {probe.container!r} probed on another port, {probe.port}"
    fix = "probe one port, or make one of the probes an httpGet or exec probe"
    return Problem(path, "probe-tcp-port-conflict", expected, found, fix)


CODES = (
    "label-invalid",
    "name-invalid",
    "port-name-invalid",
    "port-out-of-range",
    "port-reserved",
    "probe-duplicate",
    "probe-grpc-conflict",
    "probe-path-invalid",
    "probe-tcp-port-conflict",
    "workload-duplicate",
    "workload-no-service-account",
    "workload-port-duplicate",
    "workload-replicas-invalid",
)

CHECKS: tuple[Check, ...] = (
    workload_names,
    workload_duplicates,
    service_accounts,
    workload_replicas,
    workload_labels,
    container_ports,
    container_port_duplicates,
    probe_ports,
    probe_paths,
    probe_containers,
    probe_conflicts,
)
