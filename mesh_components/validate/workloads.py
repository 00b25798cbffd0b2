"""Checks of workloads: names, the ServiceAccount (the identity), labels, ports and probes.

Container and probe ports must not collide with the ports the sidecar owns in the same pod.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, ProbeAction
from mesh_components.validate._common import (
    PORT_NAME_RULE,
    Check,
    app_port_problems,
    counted_twice,
    invalid_name,
    is_port_name,
    label_problems,
    object_path,
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
    for ref, count in counted_twice(workload.ref for workload in spec.workloads).items():
        path = object_path("workloads", ref.namespace, ref.name)
        fix = "remove the extra declarations, or rename all but one"
        expected = "one workload per namespace and name"
        yield Problem(path, "workload-duplicate", expected, f"{count} of them", fix)


def service_accounts(spec: MeshSpec) -> Iterator[Problem]:
    """The ServiceAccount is the identity; an empty one would silently run pods as `default`."""
    for workload in spec.workloads:
        if not workload.service_account:
            path = f"{workload_path(workload)}.serviceAccount"
            expected = "a ServiceAccount name (the workload's identity)"
            account = suggest_name(workload.name.split(".")[0]) or "web"
            fix = f"set serviceAccount to the ServiceAccount its pods run as, e.g. {account!r}"
            yield Problem(path, "workload-no-service-account", expected, "''", fix)


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


CODES = (
    "label-invalid",
    "name-invalid",
    "port-name-invalid",
    "port-out-of-range",
    "port-reserved",
    "probe-path-invalid",
    "workload-duplicate",
    "workload-no-service-account",
    "workload-port-duplicate",
)

CHECKS: tuple[Check, ...] = (
    workload_names,
    workload_duplicates,
    service_accounts,
    workload_labels,
    container_ports,
    container_port_duplicates,
    probe_ports,
    probe_paths,
)
