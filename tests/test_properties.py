"""Property tests: any valid declaration compiles to configs a real Envoy accepts, and any
invalid one gives the one validation error, never a traceback.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_components.cli.app import compiled_files
from mesh_components.errors import MeshValidationError
from mesh_components.model.loader import load_spec
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.build import build
from mesh_components.validate import find_problems
from tests.strategies import JUNK, Spec, mutated_specs, valid_specs


def _build_or_reject(data: object) -> None:
    """Build `data`; a MeshValidationError is a fine answer, any other exception is a bug."""
    try:
        build(load_spec(data))
    except MeshValidationError as error:
        assert error.problems, "a validation error must carry at least one problem"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_generated_valid_specs_have_no_problems(spec: Spec) -> None:
    assert find_problems(load_spec(spec)) == ()


@pytest.mark.envoy
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs())
def test_any_valid_spec_compiles_to_configs_envoy_accepts(spec: Spec, envoy_binary: Path) -> None:
    mesh = build(load_spec(spec))
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    rejected = {
        v.name: v.output
        for v in envoy_check.validate_configs(envoy_binary, configs)
        if not v.accepted
    }
    assert not rejected


@settings(max_examples=300, deadline=None)
@given(mutated_specs())
def test_a_randomly_broken_spec_never_raises_anything_but_the_validation_error(spec: Spec) -> None:
    _build_or_reject(spec)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        JUNK,
        st.dictionaries(
            st.sampled_from(["mesh", "services", "workloads", "splits", "policies", "x"]), JUNK
        ),
    )
)
def test_arbitrary_data_never_raises_anything_but_the_validation_error(data: object) -> None:
    _build_or_reject(data)


@settings(max_examples=30, deadline=None)
@given(valid_specs(), st.randoms(use_true_random=False))
def test_a_shuffled_spec_compiles_to_byte_identical_files(spec: Spec, rng: random.Random) -> None:
    shuffled = _shuffled(spec, rng)
    assert compiled_files(build(load_spec(shuffled))) == compiled_files(build(load_spec(spec)))


def _shuffled(node: object, rng: random.Random) -> object:
    """A deep copy with every list and mapping in random order (meaning is order-free)."""
    if isinstance(node, dict):
        items = [(key, _shuffled(value, rng)) for key, value in node.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(node, list):
        items_list = [_shuffled(value, rng) for value in node]
        rng.shuffle(items_list)
        return items_list
    return node
