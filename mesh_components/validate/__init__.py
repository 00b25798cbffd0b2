"""Semantic validation: every problem of a structurally valid MeshSpec, found in one pass.

The checks are data: `CHECKS` is a tuple of small pure functions `(spec) -> problems`, one
module per subject. Each check tolerates what earlier ones report (duplicates, dangling names).
`graph.CHECKS` resolve the mesh as the compiler does, so they run once the rest found nothing;
`egress.GRAPH_CHECKS` need the outbound ports resolved, so they run last. `hints.CHECKS` find
what is valid but probably a mistake: `validate` issues them as `SpecWarning`s, never fatal,
and then a `MeshNote` for what the mesh does on the user's behalf (`find_notes`).
"""

from __future__ import annotations

import warnings

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSpec
from mesh_components.validate import (
    certificates,
    destinations,
    egress,
    graph,
    hints,
    ingress,
    metrics,
    policies,
    services,
    settings,
    splits,
    workloads,
)
from mesh_components.validate._common import Check
from mesh_components.validate.hints import MeshNote, SpecWarning

__all__ = [
    "CHECKS",
    "CODES",
    "WARNING_CODES",
    "Check",
    "MeshNote",
    "SpecWarning",
    "find_notes",
    "find_problems",
    "find_warnings",
    "validate",
]

_SUBJECTS = (
    settings,
    certificates,
    services,
    workloads,
    metrics,
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

WARNING_CODES: frozenset[str] = frozenset((*hints.CODES, *metrics.HINT_CODES))
"""Every code a warning may carry (never one of `CODES`)."""


def find_problems(spec: MeshSpec) -> tuple[Problem, ...]:
    """Every problem in `spec`, sorted by path and without repeats; () when it is valid."""
    problems = {problem for check in CHECKS for problem in check(spec)}
    if not problems:
        problems = {problem for check in graph.CHECKS for problem in check(spec)}
    if not problems:
        problems = {problem for check in egress.GRAPH_CHECKS for problem in check(spec)}
    return tuple(sorted(problems))


def find_warnings(spec: MeshSpec) -> tuple[Problem, ...]:
    """What in `spec` is valid but probably not what was meant, sorted; () when nothing is."""
    checks = (*hints.CHECKS, *metrics.HINTS)
    return tuple(sorted({problem for check in checks for problem in check(spec)}))


def find_notes(spec: MeshSpec) -> tuple[str, ...]:
    """What the mesh does on the user's behalf that changes what they see, one sentence each
    (today: the app's metrics merged with the sidecar's), sorted."""
    return tuple(sorted(set(metrics.notes(spec))))


def validate(spec: MeshSpec) -> MeshSpec:
    """`spec` itself when it is valid, after issuing a `SpecWarning` per warning; otherwise
    raise one MeshValidationError listing all problems."""
    problems = find_problems(spec)
    if problems:
        raise MeshValidationError(problems)
    for warning in find_warnings(spec):
        warnings.warn(str(warning), SpecWarning, stacklevel=2)
    for note in find_notes(spec):
        warnings.warn(note, MeshNote, stacklevel=2)
    return spec
