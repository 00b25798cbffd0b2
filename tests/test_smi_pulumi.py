"""The Pulumi program `import` writes runs under mocks and gives the same proxy ConfigMaps and
identity Secrets as injecting the imported manifests with the imported spec; workloads OSM left
alone stay uninjected."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode
from mesh_components.pipeline.injection import inject_all
from mesh_components.pipeline.output import write_tree
from mesh_components.smi import ImportedMesh, import_documents
from mesh_components.smi.cli import injectable_manifests, output_files
from mesh_components.smi.program import program_files
from tests.pulumi_mocks import Recorder, project_program, run
from tests.test_pulumi_components import CA_TEXT, NOW
from tests.test_render import make_ca
from tests.test_smi_import import demo, docs

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"


def run_imported(imported: ImportedMesh, tmp_path: Path) -> Recorder:
    files, _ = output_files(imported)
    write_tree(tmp_path / "project", files)
    return run(project_program(tmp_path / "project", config={"ca": CA_TEXT}, now=NOW))


def rendered(imported: ImportedMesh, kind: str) -> dict[str, Json]:
    """What `inject -f OUT/manifests.yaml --mesh OUT/mesh.yaml` writes, by namespace/name."""
    objects = inject_all(injectable_manifests(imported), imported.spec, make_ca(), NOW)
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
        for o in objects
        if o["kind"] == kind
    }


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Recorder:
    return run_imported(demo(), tmp_path_factory.mktemp("demo"))


def test_the_demo_program_gives_the_rendered_proxy_config_maps(demo_run: Recorder) -> None:
    programmed = {n: r.inputs["data"] for n, r in demo_run.of_type(CONFIG_MAP).items()}
    expected = {n: o["data"] for n, o in rendered(demo(), "ConfigMap").items()}
    assert len(expected) == 6
    assert programmed == expected


def test_the_demo_program_issues_the_rendered_identity_secrets(demo_run: Recorder) -> None:
    programmed = {n: r.inputs["data"] for n, r in demo_run.of_type(SECRET).items()}
    expected = {n: o["data"] for n, o in rendered(demo(), "Secret").items()}
    assert programmed == expected and len(expected) == 6


def test_every_demo_workload_gets_its_sidecar(demo_run: Recorder) -> None:
    workloads = {
        **demo_run.of_type("kubernetes:apps/v1:Deployment"),
        **demo_run.of_type("kubernetes:apps/v1:StatefulSet"),
    }
    assert len(workloads) == 6
    for resource in workloads.values():
        init = resource.inputs["spec"]["template"]["spec"]["initContainers"]
        assert names.PROXY_CONTAINER in {c["name"] for c in init}


def test_the_program_is_python_and_declares_what_the_spec_holds() -> None:
    files, notes = program_files(demo())
    tree = ast.parse(files["__main__.py"])
    calls = [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]
    assert calls.count("MeshService") == 5
    assert calls.count("TrafficSplit") == 1
    assert calls.count("AccessPolicy") == 4
    # The demo's Services carry `app` labels, which a MeshService does not: only the program
    # and the spec drop them, so only `import` says so (`render` keeps the Services whole).
    labelled = {
        f"Service[{m['metadata']['namespace']}/{m['metadata']['name']}]"
        for m in demo().manifests
        if m["kind"] == "Service" and m["metadata"].get("labels")
    }
    assert len(labelled) == 4  # mysql's has none
    assert {note.path for note in notes} == labelled
    assert all("not carried over to mesh.yaml and __main__.py" in n.message for n in notes)


def namespace(name: str, **annotations: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": annotations},
    }


def deployment(name: str, ns: str = "shop", **annotations: str) -> Json:
    labels = {"app": name}
    template = {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {"serviceAccountName": name, "containers": [{"name": name, "image": "x"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": labels}, "template": template},
    }


ENABLED = {"openservicemesh.io/sidecar-injection": "enabled"}
DISABLED = {"openservicemesh.io/sidecar-injection": "disabled"}


def test_workloads_osm_left_alone_stay_alone_in_the_program(tmp_path: Path) -> None:
    imported = import_documents(
        docs(
            namespace("shop", **ENABLED),
            deployment("web"),
            deployment("legacy", **DISABLED),
            deployment("outside", "other"),
        ),
        access=AccessMode.OPEN,
    )
    recorded = run_imported(imported, tmp_path)
    deployments = recorded.of_type("kubernetes:apps/v1:Deployment")
    injected = {
        name
        for name, r in deployments.items()
        if "initContainers" in r.inputs["spec"]["template"]["spec"]
    }
    assert injected == {"shop/web"}
    assert set(recorded.of_type(CONFIG_MAP)) == {"shop/web-mesh-proxy"}


SOLO_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "solo", "namespace": "shop"},
    "spec": {"serviceAccountName": "solo", "containers": [{"name": "a", "image": "x"}]},
}


def test_a_meshed_bare_pod_is_auto_injected_by_the_program(tmp_path: Path) -> None:
    imported = import_documents(
        docs(namespace("shop", **ENABLED), SOLO_POD), access=AccessMode.OPEN
    )
    recorded = run_imported(imported, tmp_path)
    pod = recorded.of_type("kubernetes:core/v1:Pod")["shop/solo"].inputs
    assert [c["name"] for c in pod["spec"]["initContainers"]][-1] == names.PROXY_CONTAINER
    assert set(recorded.of_type(CONFIG_MAP)) == {"shop/solo-mesh-proxy"}


def test_a_workload_in_an_old_api_version_cannot_be_auto_injected_and_says_so() -> None:
    old = {**SOLO_POD, "apiVersion": "apps/v1beta2", "kind": "Deployment"}
    old["spec"] = {"template": {"metadata": {"labels": {"app": "solo"}}, "spec": SOLO_POD["spec"]}}
    imported = import_documents(docs(namespace("shop", **ENABLED), old), access=AccessMode.OPEN)
    with pytest.raises(MeshValidationError) as error:
        program_files(imported)
    assert error.value.codes == ("smi-pulumi-not-injectable",)


def test_secrets_are_left_out_of_the_program_with_a_note() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "c2VjcmV0"},
    }
    imported = import_documents(
        docs(namespace("shop", **ENABLED), deployment("web"), secret), access=AccessMode.OPEN
    )
    files, notes = program_files(imported)
    assert "c2VjcmV0" not in files["__main__.py"]
    assert [n.path for n in notes] == ["Secret[shop/db]"]
