"""A short summary of a compiled mesh: per workload, its listeners, routes and split weights."""

from __future__ import annotations

from typing import Any

from mesh_components.compiler.plan import Destination, EgressPlan, InboundPort, OutboundPort
from mesh_components.model import HttpRule, PathMatchKind
from mesh_components.pipeline.build import CompiledMesh, CompiledWorkload


def summarize(mesh: CompiledMesh) -> str:
    """The text `validate` prints."""
    settings = mesh.plan.settings
    head = (
        f"mesh {settings.name}: {len(mesh.workloads)} workloads "
        f"(access: {settings.access}, mTLS: {settings.mtls}, trust domain: {settings.trust_domain})"
    )
    return "\n".join([head, *(line for w in mesh.workloads for line in _workload(w))])


def _workload(compiled: CompiledWorkload) -> list[str]:
    plan = compiled.plan
    lines = ["", f"{plan.workload}  (identity {plan.spiffe_id})"]
    listeners = ", ".join(_listener(listener) for listener in compiled.envoy.listeners)
    lines.append(f"  listeners: {listeners}")
    lines.extend(f"  in  {line}" for port in plan.inbound for line in _inbound(port))
    lines.extend(f"  out {line}" for port in plan.outbound for line in _outbound(port))
    egress = _egress(plan.egress)
    if not plan.outbound:
        lines.append("  out (may call no mesh service)" if egress else "  out (may call nothing)")
    lines.extend(f"  egress {line}" for line in egress)
    return lines


def _egress(egress: EgressPlan) -> list[str]:
    """Allowed destinations outside the mesh, and the fate of any other (only when not deny,
    so meshes without egress read as before)."""
    lines = []
    for port in egress.ports:
        for kind, allowed in (("http", port.http_hosts), ("tls", port.tls_hosts)):
            if allowed:
                lines.append(f":{port.port} {kind:<5} {', '.join(allowed)}")
        if port.cidrs:
            lines.append(f":{port.port} tcp   {', '.join(port.cidrs)}")
    if egress.passthrough:
        lines.append("any other destination outside the mesh: passthrough")
    elif lines:
        lines.append("any other destination outside the mesh: denied")
    return lines


def _listener(listener: dict[str, Any]) -> str:
    port = listener["address"]["socket_address"]["port_value"]
    chains = len(listener.get("filter_chains", ()))
    return f"{listener['name']}:{port} ({chains} chain{'s' if chains != 1 else ''})"


def _inbound(port: InboundPort) -> list[str]:
    where = f":{port.target_port} {port.protocol:<5} {port.sni}"
    return [*_mtls(port, where), *_ingress(port, where)]


def _ingress(port: InboundPort, where: str) -> list[str]:
    """Plaintext ingress from IP ranges, and ingress identities refused here (open mode)."""
    lines = [
        f"{where}  <- plaintext from {', '.join(rule.source_ranges)}: "
        + (_request(rule.http) if port.protocol.is_http else "any connection")
        for rule in port.plaintext
    ]
    if port.refused:
        refused = ", ".join(map(_identity, port.refused))
        lines.append(f"{where}  refuses {refused} (ingress identities declared elsewhere)")
    return lines


def _mtls(port: InboundPort, where: str) -> list[str]:
    if port.access is None:
        return [f"{where}  <- any mesh identity"]
    if not port.access:
        return [f"{where}  <- nobody (denied)"]
    by_sources: dict[tuple[str, ...], list[str]] = {}
    for rule in port.access:
        request = _request(rule.http) if port.protocol.is_http else "any connection"
        by_sources.setdefault(rule.principals, []).append(request)
    return [
        f"{where}  <- {', '.join(map(_identity, sources))}: {'; '.join(requests)}"
        for sources, requests in by_sources.items()
    ]


def _identity(spiffe_id: str) -> str:
    """`spiffe://td/ns/shop/sa/web` as `shop/web`."""
    _, _, rest = spiffe_id.partition("/ns/")
    namespace, _, account = rest.partition("/sa/")
    return f"{namespace}/{account}"


def _request(rule: HttpRule | None) -> str:
    """A rule in a few characters: `GET,HEAD /items/*`, `PUT ~/items/[0-9]+`, `any request`."""
    if rule is None:
        return "any request"
    methods = ",".join(rule.methods) or "any method"
    path = ""
    if rule.path is not None:
        marks = {PathMatchKind.EXACT: "{}", PathMatchKind.PREFIX: "{}*", PathMatchKind.REGEX: "~{}"}
        path = " " + marks[rule.path.kind].format(rule.path.value)
    headers = "".join(f" [{h.name}~{h.regex}]" for h in rule.headers)
    return f"{methods}{path}{headers}"


def _outbound(port: OutboundPort) -> list[str]:
    return [f":{port.port} {port.protocol:<5} {_destination(d)}" for d in port.destinations]


def _destination(destination: Destination) -> str:
    total = sum(b.weight for b in destination.backends)
    shares = ", ".join(
        f"{b.upstream.service.name} {100 * b.weight / total:g}%" for b in destination.backends
    )
    return f"{destination.service} -> {shares}"
