"""The kubelet's probes of app containers, read from a pod spec and pointed at the sidecar.

`probes_of` turns a pod spec's probes into model `Probe`s, the same data that drives the
sidecar's probe listeners; `rewrite_probes` moves each probe to where `routes.probe_target`
(the one rule both sides follow) says the sidecar answers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mesh_components.emit.envoy.routes import ProbeTarget, probe_target
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSettings, Probe, ProbeAction, ProbeKind

Json = dict[str, Any]

PROBE_FIELDS = {kind: f"{kind.value}Probe" for kind in ProbeKind}
"""The container field of each probe kind: `livenessProbe`, `readinessProbe`, `startupProbe`."""
_ACTIONS = {"httpGet": ProbeAction.HTTP, "tcpSocket": ProbeAction.TCP, "grpc": ProbeAction.GRPC}
_PORT_RULE = "a port number, or the name of one of the container's ports"


def probes_of(pod_spec: Json) -> tuple[Probe, ...]:
    """The network probes of the pod's app containers, in container then kind order.

    Named ports are resolved against the container's ports. `exec` probes, and HTTP or TCP
    probes with a `host` (they probe another machine, not the pod), are left alone.
    Raises MeshValidationError (`probe-port-unknown`) for a port name the container lacks.
    """
    probes, _, problems = read_probes(pod_spec)
    if problems:
        raise MeshValidationError(problems)
    return probes


def read_probes(pod_spec: Json) -> tuple[tuple[Probe, ...], tuple[str, ...], tuple[Problem, ...]]:
    """As `probes_of`, without raising: the probes it could read, where each sits in the pod
    spec (for problems about it), and the problems of those it could not."""
    found, paths, problems = [], [], []
    for at, container, kind, probe in _network_probes(pod_spec):
        key, handler = _handler(probe)
        port = _port(container, handler.get("port"))
        if port is None:
            problems.append(_unknown_port(f"{at}.{key}.port", container, handler.get("port")))
        else:
            found.append(_model(kind, container["name"], probe, port))
            paths.append(at)
    return tuple(found), tuple(paths), tuple(problems)


def rewrite_probes(pod_spec: Json, settings: MeshSettings) -> Json:
    """A copy of `pod_spec` whose network probes ask the sidecar instead of the app."""
    spec: Json = json.loads(json.dumps(pod_spec))
    containers = {c["name"]: c for c in spec.get("containers", [])}
    for probe in probes_of(spec):
        container, field = containers[probe.container], PROBE_FIELDS[probe.kind]
        container[field] = rewritten(container[field], probe_target(probe, settings.proxy.ports))
    return spec


def rewritten(probe: Json, target: ProbeTarget) -> Json:
    """`probe` with its action replaced by `target`; timing, thresholds, HTTP headers and the
    gRPC service name are kept. The sidecar is always asked in plain HTTP: it speaks TLS to an
    HTTPS app itself."""
    kept = {key: value for key, value in probe.items() if key not in _ACTIONS}
    if target.action is ProbeAction.GRPC:
        return {**kept, "grpc": {**probe.get("grpc", {}), "port": target.port}}
    http = {**probe.get("httpGet", {}), "path": target.path, "port": target.port}
    return {**kept, "httpGet": {**http, "scheme": "HTTP"}}


def _network_probes(pod_spec: Json) -> Iterator[tuple[str, Json, ProbeKind, Json]]:
    """(path, container, kind, probe) for each probe that goes over the pod's network."""
    for index, container in enumerate(pod_spec.get("containers", [])):
        for kind, field in PROBE_FIELDS.items():
            probe = container.get(field)
            if probe is not None and _is_network_probe(probe):
                yield f"spec.containers[{index}].{field}", container, kind, probe


def _is_network_probe(probe: Json) -> bool:
    found = [key for key in _ACTIONS if key in probe]
    return bool(found) and "host" not in probe[found[0]]


def _handler(probe: Json) -> tuple[str, Json]:
    key = next(key for key in _ACTIONS if key in probe)
    return key, probe[key]


def _port(container: Json, port: object) -> int | None:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    named = [p.get("containerPort") for p in container.get("ports", []) if p.get("name") == port]
    return named[0] if named and isinstance(named[0], int) else None


def _unknown_port(path: str, container: Json, port: object) -> Problem:
    known = sorted(str(p["name"]) for p in container.get("ports", []) if "name" in p)
    fix = f"use one of {known} or a number" if known else "use a port number"
    return Problem(path, "probe-port-unknown", _PORT_RULE, repr(port), fix)


def _model(kind: ProbeKind, container: str, probe: Json, port: int) -> Probe:
    key, handler = _handler(probe)
    path = str(handler.get("path") or "/")
    return Probe(
        kind=kind,
        container=container,
        action=_ACTIONS[key],
        port=port,
        path=path if path.startswith("/") else f"/{path}",  # as the kubelet requests it
        https=str(handler.get("scheme", "HTTP")).upper() == "HTTPS",
        initial_delay_seconds=int(probe.get("initialDelaySeconds", 0)),
        period_seconds=int(probe.get("periodSeconds", 10)),
        failure_threshold=int(probe.get("failureThreshold", 3)),
    )
