"""Importing OSM's unmodified bookstore demo: the spec it gives (a golden file), the same Envoy
configs as examples/bookstore, the problems it reports without flags, and the CLI verb."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh_components import yamltext
from mesh_components.cli import main
from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode, MeshSpec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.build import build
from mesh_components.pipeline.specfile import read_spec
from mesh_components.smi import Document, ImportedMesh, import_documents, read_manifest_dir

ROOT = Path(__file__).parents[1]
GOLDENS = ROOT / "tests" / "goldens_smi"
DEMO = GOLDENS / "osm-demo-input"
"""OSM's demo manifests, copied unmodified (osm-docs c6e620e4, Apache 2.0; see its README)."""
SHARED_DEMO = Path("/work/shared/reference/osm-demo")
NAMESPACES = ("bookbuyer", "bookstore", "bookthief", "bookwarehouse")


def demo(**options: Any) -> ImportedMesh:
    return read_manifest_dir(DEMO, NAMESPACES, **{"access": AccessMode.POLICY, **options})


def envoy_files(spec: MeshSpec) -> dict[str, dict[str, str]]:
    return {str(w.plan.workload): w.envoy.files() for w in build(spec).workloads}


def docs(*bodies: dict[str, Any]) -> list[Document]:
    return [Document(f"test#{i}", body) for i, body in enumerate(bodies)]


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDENS / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    expected = path.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True)))
    assert text == expected, f"{name} changed (rerun with --update-goldens):\n{diff}"


@pytest.mark.skipif(not SHARED_DEMO.is_dir(), reason="no shared reference copy on this machine")
def test_the_vendored_demo_is_the_unmodified_reference() -> None:
    shared = {p.name: p.read_bytes() for p in SHARED_DEMO.iterdir()}
    assert {p.name: p.read_bytes() for p in DEMO.iterdir()} == shared


def test_the_unmodified_demo_imports_to_the_golden_spec(update_goldens: bool) -> None:
    text = yamltext.dump(spec_document(demo().spec), sort_keys=False)
    check_golden("osm-demo/mesh.yaml", text, update_goldens)


def test_the_demo_compiles_to_the_same_envoy_configs_as_the_hand_written_bookstore() -> None:
    imported = envoy_files(demo().spec)
    by_hand = envoy_files(read_spec(ROOT / "examples" / "bookstore"))
    # OSM names bookstore v1's Deployment `bookstore`; the example calls it `bookstore-v1`.
    by_hand["bookstore/bookstore"] = by_hand.pop("bookstore/bookstore-v1")
    assert imported.keys() == by_hand.keys()
    for workload, files in imported.items():
        for name, text in files.items():
            expected = by_hand[workload][name]
            if (workload, name) == ("bookstore/bookstore", "bootstrap.yaml"):
                expected = expected.replace("id: bookstore/bookstore-v1", "id: bookstore/bookstore")
            assert text == expected, (workload, name)


def test_the_only_envoy_difference_is_the_renamed_workloads_node_id() -> None:
    """The comparison above is not vacuous: without the rename the bootstrap differs."""
    imported = envoy_files(demo().spec)["bookstore/bookstore"]["bootstrap.yaml"]
    by_hand = envoy_files(read_spec(ROOT / "examples" / "bookstore"))
    assert imported != by_hand["bookstore/bookstore-v1"]["bootstrap.yaml"]


def test_the_meshconfig_settings_that_differ_from_the_example_are_carried_over() -> None:
    settings = demo().spec.settings
    assert settings.proxy.log_level.value == "error"
    assert settings.certificates.validity_hours == 24
    assert settings.name == "osm"


def test_without_flags_the_demo_says_which_namespaces_to_mesh() -> None:
    with pytest.raises(MeshValidationError) as error:
        read_manifest_dir(DEMO)
    assert error.value.codes == ("smi-no-mesh-namespaces",)
    assert "--namespaces bookbuyer,bookstore,bookthief,bookwarehouse" in str(error.value)


def test_permissive_mode_with_traffic_targets_asks_for_an_access_mode() -> None:
    with pytest.raises(MeshValidationError) as error:
        read_manifest_dir(DEMO, NAMESPACES)
    assert error.value.codes == ("smi-permissive-with-targets",)


def test_open_access_keeps_permissive_mode_and_notes_each_target_left_out() -> None:
    imported = demo(access=AccessMode.OPEN)
    assert imported.spec.settings.access is AccessMode.OPEN
    assert imported.spec.policies == ()
    left_out = {n.path for n in imported.notes if "permissive" in n.message}
    assert len(left_out) == 4


def test_every_workload_of_the_demo_is_meshed_and_the_manifests_are_untouched() -> None:
    imported = demo()
    assert len(imported.meshed_manifests) == 6
    originals = [
        doc
        for file in sorted(DEMO.glob("*.yaml"))
        for doc in yaml.safe_load_all(file.read_text())
        if doc and "smi-spec.io/" not in doc["apiVersion"]
        if "openservicemesh.io/" not in doc["apiVersion"]
    ]
    assert list(imported.manifests) == originals


def test_the_import_verb_writes_spec_program_and_manifests(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    argv = ["import", str(DEMO), "-o", str(out), "--namespaces", ",".join(NAMESPACES)]
    assert main([*argv, "--access", "policy"]) == 0
    assert {p.name for p in out.iterdir()} >= {"mesh.yaml", "__main__.py", "Pulumi.yaml"}
    assert read_spec(out) == demo().spec
    assert "note: " in capsys.readouterr().err
    injectable = list(yaml.safe_load_all((out / "manifests.yaml").read_text()))
    assert len(injectable) == len(demo().manifests)


def test_the_import_verb_reports_problems_without_a_traceback(tmp_path: Path, capsys: Any) -> None:
    assert main(["import", str(DEMO), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "smi-no-mesh-namespaces" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_stdin_and_kind_list_inputs_are_read(monkeypatch: Any, tmp_path: Path) -> None:
    items = [doc for f in sorted(DEMO.glob("*.yaml")) for doc in yaml.safe_load_all(f.read_text())]
    listed = {"apiVersion": "v1", "kind": "List", "items": [d for d in items if d]}
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(yaml.safe_dump(listed)))
    assert read_manifest_dir("-", NAMESPACES, access=AccessMode.POLICY).spec == demo().spec


def test_unreadable_yaml_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    (tmp_path / "scalar.yaml").write_text("just text\n")
    with pytest.raises(MeshValidationError) as error:
        read_manifest_dir(tmp_path)
    files = {"broken.yaml": "file-malformed", "scalar.yaml": "smi-not-an-object"}
    found = {p.path.split("#")[0]: p.code for p in error.value.problems}
    # Listed with the import's own problems: with nothing readable, no namespace is meshed.
    assert found == {**files, "namespaces": "smi-no-mesh-namespaces"}


def test_import_documents_takes_documents_directly() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}}
    with pytest.raises(MeshValidationError) as error:
        import_documents(docs(namespace))
    assert error.value.codes == ("smi-no-mesh-namespaces",)
