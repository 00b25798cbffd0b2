"""`render DIR` on a directory of OSM manifests and SMI resources: OSM's unmodified demo
becomes schema-valid manifests whose every mounted proxy config Envoy accepts."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mesh_components.cli import main
from mesh_components.pipeline import render_check
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


def test_cluster_scoped_objects_keep_no_namespace_and_are_applied_first(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for path in OSM_DEMO.iterdir():
        (source / path.name).write_text(path.read_text())
    (source / "rbac.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: ClusterRole\n"
        "metadata: {name: reader}\n"
        "rules: []\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata: {name: settings}\n"
        "data: {a: b}\n"
    )
    ca = ["--ca-file", str(tmp_path / "ca.secret.yaml"), "--new-ca"]
    assert main(["render", str(source), "-o", str(tmp_path / "out"), *ca, *FLAGS]) == 0
    (role,) = (tmp_path / "out" / "01-cluster").iterdir()
    assert role.name.endswith("-clusterrole-reader.yaml")
    assert "namespace" not in yaml.safe_load(role.read_text())["metadata"]
    (config,) = (tmp_path / "out" / "default").glob("*-configmap-settings.yaml")
    assert yaml.safe_load(config.read_text())["metadata"]["namespace"] == "default"
    for obj in objects(tmp_path / "out"):
        kubernetes_validate.validate(obj, "1.31", strict=True)
