"""Golden tests: one input spec per case, one expected file per xDS type per workload.

Reviewing a change to the emitted config means reading the diff of `tests/goldens/*/expected`.
Regenerate with `.venv/bin/pytest tests/test_goldens.py --update-goldens` (stale files are deleted).
Every golden static bootstrap is also checked by the real `envoy --mode validate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_components import yamltext
from mesh_components.cli.summary import summarize
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.build import CompiledMesh, build
from mesh_components.pipeline.specfile import read_spec

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = ROOT / "tests" / "goldens"
CASES: dict[str, Path] = {
    **{case.parent.name: case for case in sorted(GOLDENS.glob("*/mesh.yaml"))},
    **{f"example-{path.parent.name}": path for path in sorted(ROOT.glob("examples/*/mesh.yaml"))},
}


def _dump(resources: object) -> str:
    return yamltext.dump(resources, sort_keys=True)


def expected_files(mesh: CompiledMesh) -> dict[str, str]:
    """{relative path: text} of every golden file of one case."""
    files = {"summary.txt": summarize(mesh) + "\n"}
    for workload in mesh.workloads:
        ref = workload.plan.workload
        folder = f"{ref.namespace}.{ref.name}"
        envoy = workload.envoy
        files[f"{folder}/listeners.yaml"] = _dump(list(envoy.listeners))
        files[f"{folder}/routes.yaml"] = _dump(list(envoy.route_configs))
        files[f"{folder}/clusters.yaml"] = _dump(list(envoy.clusters))
        files[f"{folder}/secrets.yaml"] = _dump(list(envoy.secrets))
        files[f"{folder}/bootstrap.yaml"] = _dump(envoy.bootstrap)
    return files


def _write(expected_dir: Path, files: dict[str, str]) -> None:
    for stale in expected_dir.rglob("*"):
        if stale.is_file() and str(stale.relative_to(expected_dir)) not in files:
            stale.unlink()
    for relative, text in files.items():
        path = expected_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _read(expected_dir: Path) -> dict[str, str]:
    return {
        str(path.relative_to(expected_dir)): path.read_text()
        for path in sorted(expected_dir.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_config_matches_the_golden_files(case: str, update_goldens: bool) -> None:
    actual = expected_files(build(read_spec(CASES[case])))
    expected_dir = GOLDENS / case / "expected"
    if update_goldens:
        _write(expected_dir, actual)
    expected = _read(expected_dir)
    assert sorted(actual) == sorted(expected), "golden files differ: run with --update-goldens"
    for name, text in actual.items():
        assert text == expected[name], f"{case}/{name} differs from its golden file"


def test_there_are_at_least_twelve_golden_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.envoy
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_golden_static_config_passes_envoy_validate(case: str, envoy_binary: Path) -> None:
    mesh = build(read_spec(CASES[case]))
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    verdicts = envoy_check.validate_configs(envoy_binary, configs)
    rejected = {v.name: v.output for v in verdicts if not v.accepted}
    assert not rejected, rejected
    assert len(verdicts) == len(mesh.workloads) > 0
