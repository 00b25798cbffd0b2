"""The whole pipeline in one call: validate a spec, compile it, emit every workload's Envoy config.

The CLI, `render` and the Pulumi components all go through here, so they cannot disagree.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mesh_components.compiler import compile_mesh
from mesh_components.compiler.plan import MeshPlan, WorkloadPlan
from mesh_components.emit.envoy import EnvoyConfig, emit_workload
from mesh_components.model import MeshSpec
from mesh_components.pipeline.progress import ProgressHook, counted, silent
from mesh_components.validate import validate


@dataclass(frozen=True, slots=True)
class CompiledWorkload:
    """One workload's plan and the Envoy config emitted from it."""

    plan: WorkloadPlan
    envoy: EnvoyConfig


@dataclass(frozen=True, slots=True)
class CompiledMesh:
    """A compiled mesh, workloads sorted by namespace and name."""

    plan: MeshPlan
    workloads: tuple[CompiledWorkload, ...]


def build(spec: MeshSpec, *, progress: ProgressHook = silent) -> CompiledMesh:
    """Validate (raising MeshValidationError with every problem), compile and emit."""
    with no_cycle_collection():
        plan = compile_mesh(validate(spec))
        return CompiledMesh(
            plan=plan,
            workloads=tuple(
                CompiledWorkload(workload, emit_workload(workload, plan.settings))
                for workload in counted(plan.workloads, "emitting proxy configs", progress)
            ),
        )


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Plans and configs are trees: building them makes no reference cycles, yet every few
    thousand new dicts the cycle collector walks all the live ones. In a 1,000-service mesh
    that was half of the build (docs/performance.md); reference counting still frees
    everything, and the collector runs again afterwards as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
