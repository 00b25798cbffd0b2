"""A mesh diff as text: one block per workload, one line per change, then a summary count."""

from __future__ import annotations

from collections import Counter

from mesh_components.inspect.diff import Kind, MeshDiff, Op, WorkloadDiff

_STATUS = {Op.ADDED: "added", Op.REMOVED: "removed", Op.CHANGED: "changed"}


def render(result: MeshDiff, old: str, new: str) -> str:
    lines = [f"--- {old}", f"+++ {new}"]
    for workload in result.workloads:
        lines += ["", *_workload(workload)]
    if result.mesh_changes:
        lines += ["", "mesh"]
        lines += [
            f"  {c.op.value} {c.kind.value}: {c.subject}: {c.detail}" for c in result.mesh_changes
        ]
    lines += ["", summary(result)]
    return "\n".join(lines)


def _workload(workload: WorkloadDiff) -> list[str]:
    lines = [f"{workload.status.value} workload {workload.workload} ({_STATUS[workload.status]})"]
    kind = None
    for change in workload.changes:
        if change.kind is not kind:
            kind = change.kind
            lines.append(f"  {kind.value}")
        detail = f": {change.detail}" if change.detail else ""
        lines.append(f"    {change.op.value} {change.subject}{detail}")
    return lines


def summary(result: MeshDiff) -> str:
    if result.empty:
        return "no differences"
    by_status = Counter(w.status for w in result.workloads)
    workloads = ", ".join(f"{by_status[op]} {_STATUS[op]}" for op in Op)
    changes = Counter(c.kind for w in result.workloads for c in w.changes)
    changes.update(c.kind for c in result.mesh_changes)
    kinds = ", ".join(f"{changes[k]} {k.value}" for k in Kind if changes[k])
    return f"summary: workloads {workloads}; changes: {kinds or 'none inside workloads'}"
