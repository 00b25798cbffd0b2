"""The whole pipeline on declarations that reach Envoy's own limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mesh_components import PathMatch, PathMatchKind, build, read_spec
from mesh_components.pipeline import envoy_check

ROUTE_RULES = Path(__file__).parent / "goldens" / "policy-route-rules"


def test_a_policy_regex_past_re2s_default_program_size_is_accepted(envoy_binary: Path) -> None:
    """RE2's default limit (100) rejects this 260-long program; the bootstrap raises it."""
    spec = read_spec(ROUTE_RULES)
    policy = spec.policies[0]
    regex = "/items/" + "abcdefghij" * 15 + "[a-z]{1,50}"
    rule = dataclasses.replace(policy.http_rules[0], path=PathMatch(PathMatchKind.REGEX, regex))
    spec = dataclasses.replace(
        spec, policies=(dataclasses.replace(policy, http_rules=(rule,)), *spec.policies[1:])
    )
    mesh = build(spec)
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    verdicts = envoy_check.validate_configs(envoy_binary, configs)
    assert all(v.accepted for v in verdicts), [v.output for v in verdicts]
