"""Manifests as `kubectl apply` takes them: `-n/--namespace` places the objects that name no
namespace and refuses those that name another, and an object given twice is one object, or a
problem when the two differ, for every kind alike (issue 19)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode
from mesh_components.pipeline.injection import inject_all
from mesh_components.pipeline.objects import Placed, as_applied
from mesh_components.pipeline.specfile import load_spec
from mesh_components.smi import read_manifest_dir
from mesh_components.validate import MeshNote
from tests.test_render import NOW, make_ca

ROOT = Path(__file__).resolve().parent.parent


def obj(kind: str, name: str, namespace: str | None = None, **extra: Any) -> Json:
    api = {"Deployment": "apps/v1"}.get(kind, "v1")
    meta: Json = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": meta, **extra}


def web(namespace: str | None = None, image: str = "web:1") -> Json:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": image}]},
    }
    spec = {"selector": {"matchLabels": {"app": "web"}}, "template": template}
    return obj("Deployment", "web", namespace, spec=spec)


def service(namespace: str | None = None) -> Json:
    spec = {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}
    return obj("Service", "web", namespace, spec=spec)


def write(directory: Path, *objects: Json) -> Path:
    directory.mkdir(exist_ok=True)
    for index, item in enumerate(objects):
        (directory / f"{index:02}.yaml").write_text(json.dumps(item))
    return directory


def placed(*objects: Json) -> list[Placed]:
    return [Placed(f"document[{i}]", item) for i, item in enumerate(objects)]


# -n/--namespace.


def test_namespace_places_the_objects_that_name_none_and_leaves_cluster_scoped_ones() -> None:
    applied = as_applied(placed(web(), obj("Namespace", "shop"), web("shop")), "shop")
    assert applied.problems == ()
    namespaces = [p.body["metadata"].get("namespace") for p in applied.objects]
    assert namespaces == ["shop", None]  # the second Deployment is the first one again
    assert applied.notes == (
        ("Deployment[shop/web]", "given again, identically, at document[2]: applied once"),
    )


def test_an_object_in_another_namespace_is_refused_as_kubectl_apply_n_refuses_it() -> None:
    applied = as_applied(placed(service(), web("other")), "shop")
    ((problem),) = applied.problems
    assert problem.code == "manifest-namespace-mismatch"
    assert problem.path == "Deployment[other/web] at document[1].metadata.namespace"
    assert "'shop'" in problem.expected and problem.found == "'other'"


def test_an_import_with_namespace_meshes_manifests_that_name_none(tmp_path: Path) -> None:
    source = write(tmp_path / "in", service(), web(), obj("ServiceAccount", "web"))
    imported = read_manifest_dir(source, ["shop"], access=AccessMode.OPEN, namespace="shop")
    assert [str(w.ref) for w in imported.spec.workloads] == ["shop/web"]
    assert [f"{s.namespace}/{s.name}" for s in imported.spec.services] == ["shop/web"]
    assert {m["metadata"]["namespace"] for m in imported.manifests} == {"shop"}


def test_inject_places_them_too() -> None:
    spec = load_spec({"mesh": {"name": "shop"}})
    out = inject_all([web(), service()], spec, make_ca(), NOW, namespace="shop")
    assert {o["metadata"].get("namespace") for o in out} == {"shop"}
    with pytest.raises(MeshValidationError) as error:
        inject_all([web("other")], spec, make_ca(), NOW, namespace="shop")
    assert error.value.codes == ("manifest-namespace-mismatch",)


def cli(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mesh_components", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)


def test_render_takes_namespace_and_refuses_a_bad_one_in_one_line(tmp_path: Path) -> None:
    source = write(tmp_path / "in", service(), web(), obj("ServiceAccount", "web"))
    ca = tmp_path / "ca.secret.yaml"
    common = ("--ca-file", ca, "--namespaces", "shop")
    done = cli("render", source, "-o", tmp_path / "out", "--new-ca", "-n", "shop", *common)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "out").iterdir()
    assert sorted(p.name for p in written if not p.name.startswith(".")) == ["shop"]
    bad = cli("render", source, "-o", tmp_path / "bad", "-n", "../etc", *common)
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    assert "'../etc' is not a namespace name" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    spec = tmp_path / "mesh.yaml"
    spec.write_text("mesh: {name: shop}\n")
    refused = cli("render", spec, "-o", tmp_path / "s", "--ca-file", ca, "-n", "shop")
    assert refused.returncode == 2 and "[flag-needs-manifests]" in refused.stderr


# Objects given twice.


def shop() -> list[Json]:
    """A Namespace, a Service, its Deployment and their ServiceAccount: one of each kind."""
    return [
        obj("Namespace", "shop"),
        service("shop"),
        web("shop"),
        obj("ServiceAccount", "web", "shop"),
    ]


@pytest.mark.parametrize(
    "first",
    [obj("Namespace", "shop"), obj("ServiceAccount", "web", "shop"), web("shop"), service("shop")],
    ids=lambda item: item["kind"],
)
def test_an_object_given_twice_identically_is_applied_once_with_a_note(
    tmp_path: Path, first: Json
) -> None:
    objects = shop()
    source = write(tmp_path / "in", *objects, first)
    imported = read_manifest_dir(source, ["shop"], access=AccessMode.OPEN)
    assert list(imported.manifests) == objects
    notes = [str(n) for n in imported.notes if "given again" in n.message]
    assert notes == [f"{_path(first)}: given again, identically, at 04.yaml#0: applied once"]


@pytest.mark.parametrize(
    "second",
    [
        {**obj("Namespace", "shop"), "metadata": {"name": "shop", "labels": {"team": "a"}}},
        obj("ServiceAccount", "web", "shop", automountServiceAccountToken=False),
        web("shop", image="web:2"),
        {**service("shop"), "spec": {"selector": {"app": "web"}, "ports": [{"port": 81}]}},
    ],
    ids=lambda item: item["kind"],
)
def test_an_object_given_twice_differently_is_a_problem_naming_both(
    tmp_path: Path, second: Json
) -> None:
    objects = shop()
    source = write(tmp_path / "in", *objects, second)
    with pytest.raises(MeshValidationError) as error:
        read_manifest_dir(source, ["shop"], access=AccessMode.OPEN)
    (problem,) = error.value.problems
    first = next(i for i, o in enumerate(objects) if _path(o) == _path(second))
    assert problem.code == "manifest-duplicate"
    assert problem.path == f"{_path(second)} at 04.yaml#0"
    assert f"(the first is at {first:02}.yaml#0)" in problem.found


def test_inject_warns_of_an_identical_repeat_and_refuses_a_different_one() -> None:
    spec = load_spec({"mesh": {"name": "shop"}})
    account = obj("ServiceAccount", "web", "shop")
    with pytest.warns(MeshNote, match=r"ServiceAccount\[shop/web\]: given again"):
        out = inject_all([account, web("shop"), dict(account)], spec, make_ca(), NOW)
    assert [o["kind"] for o in out].count("ServiceAccount") == 1
    with pytest.raises(MeshValidationError) as error:
        inject_all([web("shop"), web("shop", "web:2")], spec, make_ca(), NOW)
    assert error.value.codes == ("manifest-duplicate",)


def _path(item: Json) -> str:
    meta = item["metadata"]
    if item["kind"] == "Namespace":
        return f"Namespace[{meta['name']}]"
    return f"{item['kind']}[{meta['namespace']}/{meta['name']}]"
