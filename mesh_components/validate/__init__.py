"""Semantic validation: every problem of a structurally valid MeshSpec, found in one pass.

The checks are data: `CHECKS` is a tuple of small pure functions `(spec) -> problems`, one
module per subject. Each check tolerates what earlier ones report (duplicates, dangling names).
`graph.CHECKS` resolve the mesh as the compiler does, so they run once the rest found nothing;
`egress.GRAPH_CHECKS` need the outbound ports resolved, so they run last.
"""

from __future__ import annotations

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSpec
from mesh_components.validate import (
    certificates,
    destinations,
    egress,
    graph,
    ingress,
    policies,
    services,
    settings,
    splits,
    workloads,
)
from mesh_components.validate._common import Check

__all__ = ["CHECKS", "CODES", "Check", "find_problems", "validate"]

_SUBJECTS = (
    settings,
    certificates,
    services,
    workloads,
    splits,
    policies,
    destinations,
    ingress,
    egress,
)

CHECKS: tuple[Check, ...] = tuple(check for subject in _SUBJECTS for check in subject.CHECKS)
"""Every check, in subject order. The order does not matter: problems are sorted."""

CODES: frozenset[str] = frozenset(code for subject in (*_SUBJECTS, graph) for code in subject.CODES)
"""Every problem code a check may report. Codes are stable: tests and users key on them."""


def find_problems(spec: MeshSpec) -> tuple[Problem, ...]:
    """Every problem in `spec`, sorted by path and without repeats; () when it is valid."""
    problems = {problem for check in CHECKS for problem in check(spec)}
    if not problems:
        problems = {problem for check in graph.CHECKS for problem in check(spec)}
    if not problems:
        problems = {problem for check in egress.GRAPH_CHECKS for problem in check(spec)}
    return tuple(sorted(problems))


def validate(spec: MeshSpec) -> MeshSpec:
    """`spec` itself when it is valid; otherwise raise one MeshValidationError listing all."""
    problems = find_problems(spec)
    if problems:
        raise MeshValidationError(problems)
    return spec
