"""Building a mesh whose every proxy config must fit a ConfigMap, checked as each is emitted.

`pipeline.build` emits every workload's config before anyone looks at one. A mesh far over the
ConfigMap budget (an open mesh of 1,000 services: 3.2 MiB per workload, 2,000 workloads) would
then need tens of GB before the budget could refuse it. Here each config is written out and
measured as soon as it is emitted. Once one is over budget the build cannot succeed, so nothing
more is kept: the configs after it are emitted, measured and dropped, and the check stops once
it has found `MOST_REPORTED` workloads over budget, saying how many it did not check. Memory
then stays at one config, and an open mesh is refused after its first few workloads.

`render`, `inject`, the CLI's `compile` and `validate`, and the Pulumi Mesh build through here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from mesh_components.compiler import compile_mesh
from mesh_components.compiler.plan import MeshPlan, WorkloadPlan
from mesh_components.emit.envoy import EnvoyConfig, emit_workload
from mesh_components.emit.kubernetes import config_maps
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSpec, WorkloadRef
from mesh_components.pipeline.build import CompiledMesh, CompiledWorkload, no_cycle_collection
from mesh_components.pipeline.progress import ProgressHook, counted, silent
from mesh_components.validate import validate

MOST_REPORTED = 10
"""Workloads over budget named before the check stops: in an open mesh every workload is, and
each one found costs the time to emit it."""


class ConfigTooLargeError(MeshValidationError):
    """Some workloads' configs would not fit their ConfigMaps (`config-too-large`)."""


@dataclass(frozen=True, slots=True)
class BudgetedMesh:
    """A compiled mesh whose checked configs all fit, with every workload's files."""

    compiled: CompiledMesh
    files: dict[WorkloadRef, dict[str, str]]


def build_within_budget(
    spec: MeshSpec,
    budget: int = config_maps.DEFAULT_BUDGET_BYTES,
    *,
    checked: Collection[WorkloadRef] | None = None,
    progress: ProgressHook = silent,
) -> BudgetedMesh:
    """Validate, compile and emit as `pipeline.build` does, measuring each config of `checked`
    (default: every workload) against `budget` as it is emitted.

    Raises MeshValidationError for an invalid spec, and ConfigTooLargeError naming the workloads
    over budget, their sizes, the budget and the fix.
    """
    with no_cycle_collection():
        plan = compile_mesh(validate(spec))
        workloads: list[CompiledWorkload] = []
        files: dict[WorkloadRef, dict[str, str]] = {}
        problems: list[Problem] = []
        for index, workload in enumerate(
            counted(plan.workloads, "emitting proxy configs", progress)
        ):
            ref = workload.workload
            measured = checked is None or ref in checked
            emitted = _emitted(workload, plan, budget if measured else None)
            if isinstance(emitted, Problem):
                problems.append(emitted)
            if problems:
                if len(problems) == MOST_REPORTED:
                    problems += _unchecked(plan, index + 1, budget)
                    break
                continue
            assert not isinstance(emitted, Problem)
            workloads.append(CompiledWorkload(workload, emitted[0]))
            files[ref] = emitted[1]
    if problems:
        raise ConfigTooLargeError(problems)
    return BudgetedMesh(CompiledMesh(plan, tuple(workloads)), files)


def _emitted(
    workload: WorkloadPlan, plan: MeshPlan, budget: int | None
) -> tuple[EnvoyConfig, dict[str, str]] | Problem:
    """The workload's config and its files, or the problem of a config over `budget` (None:
    not measured). A config surely over it is refused before it is emitted."""
    ref = workload.workload
    least = _least_bytes(workload)
    if budget is not None and least > budget:  # not worth gigabytes to emit
        found = f"at least {least} bytes (counted from its rules, before emitting them)"
        return config_maps.too_large(ref, found, budget)
    config = emit_workload(workload, plan.settings)
    written = config.files()
    problem = None if budget is None else config_maps.over_budget(ref, written, budget)
    return (config, written) if problem is None else problem


LEAST_RULE_BYTES = 40
"""Fewer bytes than any access rule, route rule or backend takes in an emitted config (each is
a JSON object of a matcher and a name or principal, about 150 bytes)."""


def _least_bytes(workload: WorkloadPlan) -> int:
    """A lower bound on the size of the workload's config, from the plan alone. Access rules
    multiply (each port's policies times their rules, and YAML anchors can share one long
    list among hundreds of policies): a 40 KB spec once asked for a 580 MB config, and 6 GB
    to build it before the budget could say no."""
    rules = sum(len(port.access or ()) + len(port.plaintext) for port in workload.inbound)
    rules += sum(
        len(destination.policy.rules) + len(destination.backends)
        for port in workload.outbound
        for destination in port.destinations
    )
    return rules * LEAST_RULE_BYTES


def _unchecked(plan: MeshPlan, done: int, budget: int) -> list[Problem]:
    """One more problem when the check stopped early, saying how many workloads it left."""
    left = len(plan.workloads) - done
    if left == 0:
        return []
    first = plan.workloads[done].workload
    return [
        Problem(
            path="workloads",
            code="config-too-large",
            expected=f"proxy configs of at most {budget} bytes (a ConfigMap holds 1 MiB)",
            found=f"{MOST_REPORTED} workloads over it among the first {done}; the check stopped "
            f"there, so the other {left} (from {first} on) were not checked",
            fix="scope the mesh with access policies (mesh.access: policy), so each proxy only "
            "gets the services it calls",
        )
    ]
