"""The README's example is what a newcomer copies first: it must validate and render."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mesh_components import build, load_spec
from mesh_components.pipeline.render import render
from mesh_components.pki import MeshCA

README = Path(__file__).resolve().parent.parent / "README.md"


def _example() -> object:
    block = re.search(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None, "the README lost its YAML example"
    return yaml.safe_load(block.group(1))


def test_the_readme_example_compiles_and_renders() -> None:
    spec = load_spec(_example())
    assert {w.plan.workload.name for w in build(spec).workloads} == {
        "productpage",
        "reviews-v1",
        "reviews-v2",
    }
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ca = MeshCA.from_seed(
        b"readme test seed, test keys only".ljust(32, b"."),
        trust_domain="cluster.local",
        not_before=start,
    )
    kinds = {obj["kind"] for obj in render(spec, ca, start).objects}
    assert {"Deployment", "ConfigMap", "Secret", "Service"} <= kinds
