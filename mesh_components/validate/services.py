"""Checks of services: names, ports, selectors, and how target ports resolve on selected pods.

A service must select at least one workload in its own namespace, and a named target port must
resolve to one container port number on every workload it selects.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_components import names
from mesh_components.compiler.index import Selection
from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, ServiceRef, Workload
from mesh_components.validate._common import (
    DNS_LABEL_RULE,
    PORT_NAME_RULE,
    Check,
    app_port_problems,
    duplicates,
    invalid_name,
    is_dns_label,
    is_port_name,
    label_problems,
    listed,
    port_name_fix,
    repeated,
    reserved_ports,
    selected,
    service_path,
    suggest_name,
    workload_path,
)


def service_names(spec: MeshSpec) -> Iterator[Problem]:
    for service in spec.services:
        yield from invalid_name(f"{service_path(service)}.namespace", service.namespace)
        yield from invalid_name(f"{service_path(service)}.name", service.name)


def service_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    yield from duplicates("services", "service", ((s.namespace, s.name) for s in spec.services))


def companion_collisions(spec: MeshSpec) -> Iterator[Problem]:
    """A service named like the headless companion the mesh generates for another service."""
    declared = {service.ref: service for service in spec.services}
    for service in spec.services:
        companion = names.companion_service(service.name)
        clash = declared.get(ServiceRef(service.namespace, companion))
        if clash is not None and clash.ref != service.ref:
            expected = (
                f"a name other than {companion!r}, which the mesh generates for {service.name!r}"
            )
            found = f"{companion!r}, the headless companion of {service_path(service)}"
            fix = f"rename {service_path(clash)}"
            yield Problem(
                f"{service_path(clash)}.name", "service-name-collision", expected, found, fix
            )


def ports_declared(spec: MeshSpec) -> Iterator[Problem]:
    for service in spec.services:
        if not service.ports:
            path, fix = f"{service_path(service)}.ports", "add the ports the service serves"
            yield Problem(path, "service-no-ports", "at least one port", "none", fix)


def port_names(spec: MeshSpec) -> Iterator[Problem]:
    """Kubernetes' rules: a port name is a DNS label, required only when a service has several
    ports; a named target port is an IANA service name, because it names a container port."""
    for service in spec.services:
        for index, port in enumerate(service.ports):
            at = f"{service_path(service)}.ports[{index}]"
            if not is_dns_label(port.name) and (port.name or len(service.ports) > 1):
                fix = f"rename it to {suggest_name(port.name) or 'http'!r}"
                yield Problem(
                    f"{at}.name", "port-name-invalid", DNS_LABEL_RULE, repr(port.name), fix
                )
            if isinstance(port.target_port, str) and not is_port_name(port.target_port):
                found, fix = repr(port.target_port), port_name_fix(port.target_port)
                yield Problem(f"{at}.targetPort", "port-name-invalid", PORT_NAME_RULE, found, fix)


def port_numbers(spec: MeshSpec) -> Iterator[Problem]:
    reserved = reserved_ports(spec)
    for service in spec.services:
        for index, port in enumerate(service.ports):
            at = f"{service_path(service)}.ports[{index}]"
            yield from app_port_problems(f"{at}.port", port.port, reserved)
            if isinstance(port.target_port, int):
                yield from app_port_problems(f"{at}.targetPort", port.target_port, reserved)


def port_duplicates(spec: MeshSpec) -> Iterator[Problem]:
    for service in spec.services:
        at = f"{service_path(service)}.ports"
        for index, number in repeated(port.port for port in service.ports):
            expected, fix = "each port number once", f"remove or renumber {at}[{index}]"
            yield Problem(
                f"{at}[{index}].port", "service-port-duplicate", expected, str(number), fix
            )
        for index, name in repeated(port.name for port in service.ports):
            if name:
                path, fix = f"{at}[{index}].name", f"rename {at}[{index}]"
                code = "service-port-name-duplicate"
                yield Problem(path, code, "each port name once", repr(name), fix)


def selectors(spec: MeshSpec) -> Iterator[Problem]:
    for service in spec.services:
        at = f"{service_path(service)}.selector"
        yield from label_problems(at, service.selector)
        if not service.selector:
            expected = "at least one label the service's pods carry (headless services too)"
            fix = "add the labels of the workloads it serves, e.g. app: <name>"
            yield Problem(at, "selector-empty", expected, "an empty selector", fix)


def selects_something(spec: MeshSpec) -> Iterator[Problem]:
    selection = Selection(spec.workloads)
    for service in spec.services:
        if service.selector and not selected(service, selection):
            expected = (
                f"a workload in namespace {service.namespace!r} carrying every selector label"
            )
            found = "no such workload"
            fix = "fix the selector, or give the workload it should select those labels"
            yield Problem(
                f"{service_path(service)}.selector", "service-selects-nothing", expected, found, fix
            )


def target_ports(spec: MeshSpec) -> Iterator[Problem]:
    """A named target port must name one container port number on every selected workload."""
    selection = Selection(spec.workloads)
    for service in spec.services:
        pods = selected(service, selection)
        for index, port in enumerate(service.ports):
            if isinstance(port.target_port, str) and pods:
                path = f"{service_path(service)}.ports[{index}].targetPort"
                yield from _named_target(path, port.target_port, pods)


def _named_target(path: str, name: str, pods: list[Workload]) -> Iterator[Problem]:
    missing = [w for w in pods if w.resolve_port(name) is None]
    if missing:
        expected = f"a container port named {name!r} on every selected workload"
        fix = f"name a container port {name!r} on {listed(missing)}, or make targetPort a number"
        yield Problem(path, "target-port-unresolved", expected, f"none on {listed(missing)}", fix)
    numbers = {f"{workload_path(w)}: {w.resolve_port(name)}" for w in pods if w not in missing}
    if len({w.resolve_port(name) for w in pods} - {None}) > 1:
        expected = f"{name!r} to be the same container port number on every selected workload"
        fix = f"give {name!r} one number on all of them, or make targetPort a number"
        yield Problem(path, "target-port-ambiguous", expected, ", ".join(sorted(numbers)), fix)


CODES = (
    "label-invalid",
    "name-invalid",
    "port-name-invalid",
    "port-out-of-range",
    "port-reserved",
    "selector-empty",
    "service-duplicate",
    "service-name-collision",
    "service-no-ports",
    "service-port-duplicate",
    "service-port-name-duplicate",
    "service-selects-nothing",
    "target-port-ambiguous",
    "target-port-unresolved",
)

CHECKS: tuple[Check, ...] = (
    service_names,
    service_duplicates,
    companion_collisions,
    ports_declared,
    port_names,
    port_numbers,
    port_duplicates,
    selectors,
    selects_something,
    target_ports,
)
