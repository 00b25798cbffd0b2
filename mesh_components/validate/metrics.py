"""Checks of the app's metrics annotations (`prometheus.io/*` on a workload's pods), the
warnings when they cannot be merged with the sidecar's, and the note saying what was done.

Problems, warnings and notes all read what `model.metrics.scrape_decision` reads, so what the
user is told is what the compiler and injection do. Problem paths here name the annotation;
`CHECKS` and injection place them under the workload or the pod template.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mesh_components import names
from mesh_components.errors import Problem
from mesh_components.model import MeshSettings, MeshSpec, ProxyPorts, Workload
from mesh_components.model.metrics import (
    MAX_PORT,
    MERGEABLE_SCHEME,
    PATH,
    PORT,
    SCHEME,
    SCRAPE,
    Scraping,
    is_metrics_path,
    parsed_port,
    scrape_asked,
    scrape_decision,
)
from mesh_components.validate._common import Check, workload_path

_SCHEMES = (MERGEABLE_SCHEME, "https")


def annotation_problems(annotations: Mapping[str, str], ports: ProxyPorts) -> list[Problem]:
    """What is wrong with the Prometheus annotations of a pod that asks to be scraped; nothing
    is read from a pod that does not. Each problem's path is the annotation's name."""
    if not scrape_asked(annotations):
        return []
    problems = []
    if PORT in annotations:
        problems += _port_problems(annotations[PORT], ports)
    path = annotations.get(PATH)
    if path is not None and not is_metrics_path(path.strip()):
        fix = "write the path the app serves its metrics at, such as /metrics"
        expected = "an absolute URL path such as /metrics (URL characters only)"
        problems.append(Problem(PATH, "annotation-invalid", expected, repr(path), fix))
    scheme = annotations.get(SCHEME)
    if scheme is not None and scheme.strip().lower() not in _SCHEMES:
        fix = "write http (the default) or https"
        problems.append(Problem(SCHEME, "annotation-invalid", "http or https", repr(scheme), fix))
    return problems


def _port_problems(text: str, ports: ProxyPorts) -> list[Problem]:
    port = parsed_port(text)
    if port is None:
        expected = f"the port number (1 to {MAX_PORT}) the app serves its metrics on"
        fix = "write the container port as a number: Prometheus takes no port names here"
        return [Problem(PORT, "annotation-invalid", expected, repr(text), fix)]
    if port in ports.reserved():
        fix = (
            "remove the prometheus.io annotations to scrape the sidecar alone (the mesh "
            "points them at it), or write the app's own metrics port"
        )
        found = f"port {port}, one of the sidecar's"
        return [Problem(PORT, "port-reserved", "the app's own metrics port", found, fix)]
    return []


def workload_annotations(spec: MeshSpec) -> Iterator[Problem]:
    """`annotation-invalid` and `port-reserved` at `workloads[ns/name].annotations[...]`."""
    ports = spec.settings.proxy.ports
    for workload in spec.workloads:
        for problem in annotation_problems(dict(workload.annotations), ports):
            path = f"{workload_path(workload)}.annotations[{problem.path}]"
            yield Problem(path, problem.code, problem.expected, problem.found, problem.fix)


CODES = ("annotation-invalid", "port-reserved")

CHECKS: tuple[Check, ...] = (workload_annotations,)


# Warnings: scraping asked for, and not what the user gets.


def unmerged_metrics(spec: MeshSpec) -> Iterator[Problem]:
    """A pod that asks for scraping without a port to merge, or with HTTPS metrics on a port
    Prometheus cannot reach through the sidecar's mTLS listener."""
    for workload in spec.workloads:
        annotations = dict(workload.annotations)
        if not scrape_asked(annotations) or annotation_problems(annotations, _ports(spec)):
            continue
        at = f"{workload_path(workload)}.annotations"
        decision = scrape_decision(annotations)
        if decision.scraping is Scraping.SIDECAR_ONLY:
            yield _no_port(at, spec.settings)
        elif _https(annotations) and not _exempt(annotations, spec):
            yield _https_not_merged(at, annotations)


def _no_port(at: str, settings: MeshSettings) -> Problem:
    found = (
        f"{SCRAPE}: 'true' without a port, so Prometheus scrapes only the sidecar's metrics "
        f"(:{settings.proxy.ports.prometheus}{names.PROMETHEUS_PATH})"
    )
    fix = f"add {PORT} (and {PATH} unless it is /metrics) to have the app's metrics merged"
    expected = "the port the app serves its metrics on, to merge them with the sidecar's"
    return Problem(f"{at}[{PORT}]", "metrics-port-missing", expected, found, fix)


def _https_not_merged(at: str, annotations: Mapping[str, str]) -> Problem:
    port = annotations.get(PORT, "its port")
    expected = "metrics over plain HTTP: the sidecar merges only those"
    found = (
        f"{SCHEME}: {annotations[SCHEME]!r}, so the annotations are left as written, and "
        f"Prometheus' TLS connection to port {port} meets the sidecar's mTLS listener"
    )
    fix = (
        "serve the metrics over HTTP (the sidecar merges them; mTLS still guards the pod), or "
        f"list port {port} in {names.INBOUND_PORT_EXCLUSIONS_ANNOTATION} to let Prometheus "
        "reach the app directly, outside the mesh"
    )
    return Problem(f"{at}[{SCHEME}]", "metrics-not-merged", expected, found, fix)


HINT_CODES = ("metrics-not-merged", "metrics-port-missing")

HINTS: tuple[Check, ...] = (unmerged_metrics,)


# Notes: what the mesh did with the app's metrics.


def notes(spec: MeshSpec) -> Iterator[str]:
    """One line per workload whose app metrics are merged, or scraped directly because the
    user excluded their port from interception."""
    listener = f":{spec.settings.proxy.ports.prometheus}{names.PROMETHEUS_PATH}"
    for workload in spec.workloads:
        annotations = dict(workload.annotations)
        if annotation_problems(annotations, _ports(spec)):
            continue
        app = scrape_decision(annotations).app
        if app is not None:
            yield (
                f"{_name(workload)}: the app's metrics (port {app.port}, {app.path}) are served "
                f"with the sidecar's on {listener}; the pod's prometheus.io annotations now "
                "point there"
            )
        elif scrape_asked(annotations) and _https(annotations) and _exempt(annotations, spec):
            yield (
                f"{_name(workload)}: the app's HTTPS metrics (port {annotations[PORT]}) are "
                "scraped directly, outside mTLS, as the port is excluded from interception; "
                f"the sidecar's own are on {listener}, unannotated"
            )


def _name(workload: Workload) -> str:
    return f"{workload.namespace}/{workload.name}"


def _ports(spec: MeshSpec) -> ProxyPorts:
    return spec.settings.proxy.ports


def _https(annotations: Mapping[str, str]) -> bool:
    return annotations.get(SCHEME, "").strip().lower() == "https"


def _exempt(annotations: Mapping[str, str], spec: MeshSpec) -> bool:
    """The metrics port is excluded from inbound interception, mesh-wide or by the pod's own
    annotation (whose bad items injection reports)."""
    port = parsed_port(annotations.get(PORT, ""))
    given = annotations.get(names.INBOUND_PORT_EXCLUSIONS_ANNOTATION, "").split(",")
    mesh_wide = spec.settings.proxy.interception.inbound_port_exclusions
    excluded = {*mesh_wide, *map(parsed_port, given)}
    return port is not None and port in excluded
