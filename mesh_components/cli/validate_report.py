"""`validate -o json|yaml`: the compiled mesh as data, for CI and editors.

Per workload: its identity, its listeners, who may call each inbound port and where each
outbound port leads (split weights included); then what a real Envoy said about each config.
The text form of the same facts is `summary.summarize`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from mesh_components.compiler.plan import AccessRule, Destination, InboundPort, OutboundPort
from mesh_components.pipeline.build import CompiledMesh, CompiledWorkload
from mesh_components.pipeline.envoy_check import EnvoyVerdict


def report(mesh: CompiledMesh, verdicts: Sequence[EnvoyVerdict] | None) -> dict[str, Any]:
    """The document; `verdicts` is None when no Envoy was found to check the configs."""
    settings = mesh.plan.settings
    return {
        "valid": verdicts is None or all(v.accepted for v in verdicts),
        "mesh": {
            "name": settings.name,
            "access": str(settings.access),
            "mtls": str(settings.mtls),
            "trustDomain": settings.trust_domain,
        },
        "workloads": [_workload(w) for w in mesh.workloads],
        "envoy": None if verdicts is None else _envoy(verdicts),
    }


def _workload(compiled: CompiledWorkload) -> dict[str, Any]:
    plan = compiled.plan
    return {
        "workload": str(plan.workload),
        "identity": plan.spiffe_id,
        "listeners": [
            f"{listener['name']}:{listener['address']['socket_address']['port_value']}"
            for listener in compiled.envoy.listeners
        ],
        "inbound": [_inbound(port) for port in plan.inbound],
        "outbound": [_outbound(port) for port in plan.outbound],
    }


def _inbound(port: InboundPort) -> dict[str, Any]:
    return {
        "service": str(port.service),
        "port": port.port,
        "targetPort": port.target_port,
        "protocol": str(port.protocol),
        "sni": port.sni,
        # None: any mesh identity; []: nobody.
        "allowed": None if port.access is None else [_rule(rule) for rule in port.access],
    }


def _rule(rule: AccessRule) -> dict[str, Any]:
    http = None if rule.http is None else dataclasses.asdict(rule.http)
    return {"name": rule.name, "principals": list(rule.principals), "http": http}


def _outbound(port: OutboundPort) -> dict[str, Any]:
    return {
        "port": port.port,
        "protocol": str(port.protocol),
        "destinations": [_destination(d) for d in port.destinations],
    }


def _destination(destination: Destination) -> dict[str, Any]:
    return {
        "service": str(destination.service),
        "backends": [
            {"service": str(b.upstream.service), "weight": b.weight} for b in destination.backends
        ],
    }


def _envoy(verdicts: Sequence[EnvoyVerdict]) -> dict[str, Any]:
    rejected = [v for v in verdicts if not v.accepted]
    return {
        "checked": len(verdicts),
        "accepted": len(verdicts) - len(rejected),
        "rejected": [{"workload": v.name, "output": v.output} for v in rejected],
    }
