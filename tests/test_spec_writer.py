"""The spec writer is the loader's inverse: load(write(spec)) == spec, defaults left out."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings

from mesh_components import read_spec
from mesh_components.model.loader import load_spec
from mesh_components.model.writer import spec_document
from tests.strategies import Spec, valid_specs
from tests.test_goldens import CASES


def test_every_golden_spec_round_trips() -> None:
    for case, path in sorted(CASES.items()):
        spec = read_spec(path)
        assert load_spec(spec_document(spec)) == spec, case


def test_a_written_spec_leaves_defaults_out() -> None:
    spec = read_spec(Path(__file__).parents[1] / "examples" / "bookstore")
    written = spec_document(spec)
    assert written["mesh"] == {"name": "bookstore"}  # strict mTLS and policy are the defaults
    (mysql,) = [s for s in written["services"] if s["name"] == "mysql"]
    assert mysql["ports"] == [
        {"name": "client", "port": 3306, "targetPort": 3306, "protocol": "tcp"}
    ]
    assert yaml.safe_load(yaml.safe_dump(written)) == written


@settings(max_examples=60, deadline=None)
@given(valid_specs())
def test_any_valid_spec_round_trips(raw: Spec) -> None:
    spec = load_spec(raw)
    assert load_spec(spec_document(spec)) == spec
