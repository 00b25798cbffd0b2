"""A pod that names no ServiceAccount runs as its namespace's `default`, as Kubernetes runs it and
as OSM, Istio and Linkerd mesh it: meshed under that identity, with a warning that it is shared,
and the `default` ServiceAccount itself is never created (nor, so, deleted) by the mesh."""

from __future__ import annotations

import copy
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.model import AccessMode
from mesh_components.pipeline.injection import inject_all, workload_of
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import load_spec
from mesh_components.smi import import_documents
from mesh_components.smi.cli import injectable_manifests
from mesh_components.validate import SpecWarning
from tests.pulumi_mocks import run
from tests.test_pulumi_components import deployment, shop
from tests.test_pulumi_traps import accounts
from tests.test_render import NOW, make_ca
from tests.test_smi_import import docs

SHARED = r"\[workload-default-identity\].*shop/default, shared by every pod of 'shop'"


def hello(**pod_spec: Any) -> Json:
    template = {
        "metadata": {"labels": {"app": "hello"}},
        "spec": {"containers": [{"name": "hello", "image": "hello"}], **pod_spec},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "hello"}}, "template": template},
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "hello", "namespace": "shop"},
    "spec": {"selector": {"app": "hello"}, "ports": [{"name": "http", "port": 5000}]},
}


@pytest.mark.parametrize(
    ("pod_spec", "account"),
    [
        ({}, "default"),
        ({"serviceAccountName": ""}, "default"),
        ({"serviceAccount": "legacy"}, "legacy"),  # the deprecated field, which Kubernetes reads
        ({"serviceAccountName": "hello", "serviceAccount": "legacy"}, "hello"),
    ],
)
def test_the_identity_is_the_service_account_kubernetes_runs_the_pod_as(
    pod_spec: Json, account: str
) -> None:
    workload = workload_of(hello(**pod_spec))
    assert workload is not None and str(workload.identity) == f"shop/{account}"


def test_inject_meshes_a_pod_without_service_account_as_default_with_a_warning() -> None:
    spec = load_spec({"mesh": {"name": "shop"}})
    with pytest.warns(SpecWarning, match=SHARED):
        objects = inject_all([hello()], spec, make_ca(), NOW)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Secret", "default-mesh-identity") in kinds
    assert "ServiceAccount" not in {kind for kind, _ in kinds}
    pod = objects[0]["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod  # left to Kubernetes' admission, as written
    assert any(c["name"] == "mesh-proxy" for c in [*pod["initContainers"], *pod["containers"]])


def test_an_import_meshes_it_too_and_the_render_keeps_the_manifest_as_written() -> None:
    with pytest.warns(SpecWarning, match=SHARED):
        imported = import_documents(docs(SERVICE, hello()), ["shop"], access=AccessMode.OPEN)
    (workload,) = imported.spec.workloads
    assert str(workload.identity) == "shop/default"
    with pytest.warns(SpecWarning, match=SHARED):
        objects = inject_all(injectable_manifests(imported), imported.spec, make_ca(), NOW)
    assert "ServiceAccount" not in {o["kind"] for o in objects}


def test_a_spec_may_name_default_and_render_writes_no_default_service_account() -> None:
    workload = {"name": "hello", "namespace": "shop", "serviceAccount": "default", "image": "x"}
    other = {**workload, "name": "web", "serviceAccount": "web"}
    spec = load_spec({"mesh": {"name": "shop"}, "workloads": [workload, other]})
    with pytest.warns(SpecWarning, match=SHARED):
        objects = render(spec, make_ca(), NOW).objects
    made = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    assert made == {"web"}


def test_the_pulumi_mesh_never_creates_the_default_service_account() -> None:
    def body(_: Any) -> None:
        deployment("web")
        manifest = copy.deepcopy(hello())
        k8s.apps.v1.Deployment("hello", metadata=manifest["metadata"], spec=manifest["spec"])

    with pytest.warns(SpecWarning, match=SHARED):
        recorder = run(shop(body))
    assert [name for name, _ in accounts(recorder)] == ["shop/web"]
    secrets = recorder.of_type("kubernetes:core/v1:Secret").values()
    prefixes = {s.inputs["metadata"]["name"].rsplit("-", 1)[0] for s in secrets}
    assert prefixes == {"web-mesh-identity", "default-mesh-identity"}  # content-named
