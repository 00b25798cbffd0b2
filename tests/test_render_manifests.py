"""`render DIR` on a directory of OSM manifests and SMI resources: OSM's unmodified demo
becomes schema-valid manifests whose every mounted proxy config Envoy accepts."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from mesh_components import render_check
from mesh_components.cli import main
from tests.test_render_program import objects

OSM_DEMO = Path(__file__).parent / "goldens_smi" / "osm-demo-input"
FLAGS = ["--namespaces", "bookbuyer,bookstore,bookthief,bookwarehouse", "--access", "policy"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("render-osm")
    ca = ["--ca-file", str(work / "ca.secret.yaml"), "--new-ca"]
    assert main(["render", str(OSM_DEMO), "-o", str(work / "out"), *ca, *FLAGS]) == 0
    return work / "out"


def test_osms_demo_renders_to_schema_valid_manifests(rendered: Path) -> None:
    found = objects(rendered)
    assert {o["metadata"]["name"] for o in found if o["kind"] == "Deployment"} >= {
        "bookbuyer",
        "bookthief",
        "bookstore",
        "bookstore-v2",
        "bookwarehouse",
    }
    for obj in found:
        kubernetes_validate.validate(obj, "1.31", strict=True)


@pytest.mark.envoy
def test_every_injected_osm_workload_has_a_config_envoy_accepts(
    rendered: Path, envoy_binary: Path
) -> None:
    mounted = list(render_check.mounted_configs(objects(rendered)))
    assert len(mounted) == 6
    assert [
        v.name for v in render_check.validate_mounted(envoy_binary, mounted) if not v.accepted
    ] == []


def test_manifest_flags_with_a_spec_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = Path(__file__).parents[1] / "examples" / "bookstore"
    argv = ["render", str(spec), "-o", str(tmp_path), "--access", "open"]
    assert main(argv) == 2
    assert "flag-needs-manifests" in capsys.readouterr().err
