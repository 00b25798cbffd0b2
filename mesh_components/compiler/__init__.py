"""The compiler: a validated MeshSpec in, one WorkloadPlan per workload out.

The passes are pure functions of the spec and a shared index; every decision is made here.
"""

from __future__ import annotations

from mesh_components.compiler.egress import egress_conflicts, egress_plan
from mesh_components.compiler.inbound import inbound_ports
from mesh_components.compiler.index import MeshIndex
from mesh_components.compiler.outbound import outbound_ports, port_conflicts
from mesh_components.compiler.plan import MeshPlan, WorkloadPlan
from mesh_components.model import MeshSpec, Workload, scrape_decision

__all__ = [
    "MeshIndex",
    "compile_mesh",
    "egress_conflicts",
    "egress_plan",
    "plan_workload",
    "port_conflicts",
]


def compile_mesh(spec: MeshSpec) -> MeshPlan:
    """Plan each workload of a spec that `validate` accepted (the pipeline guarantees it)."""
    index = MeshIndex.of(spec)
    workloads = sorted(spec.workloads, key=lambda w: w.ref)
    return MeshPlan(
        settings=spec.settings,
        workloads=tuple(plan_workload(index, w) for w in workloads),
    )


def plan_workload(index: MeshIndex, workload: Workload) -> WorkloadPlan:
    """The complete, resolved plan of one workload's sidecar."""
    trust_domain = index.spec.settings.trust_domain
    return WorkloadPlan(
        workload=workload.ref,
        identity=workload.identity,
        spiffe_id=workload.identity.spiffe_id(trust_domain),
        inbound=inbound_ports(index, workload),
        outbound=outbound_ports(index, workload),
        probes=tuple(sorted(workload.probes, key=lambda p: (p.kind, p.container))),
        egress=egress_plan(index, workload),
        app_metrics=scrape_decision(workload.annotations).app,
    )
