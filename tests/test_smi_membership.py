"""Mesh membership follows OSM's injector: the sidecar-injection annotation on a namespace or
a pod (pods win), the monitored-by label, the ignore label, host-network pods, or an explicit
namespace list. Workloads outside the mesh stay as they are and are not mesh workloads."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode
from mesh_components.smi import ImportedMesh, import_documents
from tests.test_smi_import import docs

Json = dict[str, Any]
INJECTION = "openservicemesh.io/sidecar-injection"


def namespace(name: str, annotations: Json | None = None, labels: Json | None = None) -> Json:
    metadata = {"name": name, "annotations": annotations or {}, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def workload(name: str, ns: str, annotations: Json | None = None, **spec: Any) -> Json:
    template = {
        "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
        "spec": {"serviceAccountName": name, "containers": [{"name": "a", "image": "x"}], **spec},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template},
    }


def meshed(imported: ImportedMesh) -> set[str]:
    return {f"{w.namespace}/{w.name}" for w in imported.spec.workloads}


def run(*documents: Json, namespaces: list[str] | None = None, **options: Any) -> ImportedMesh:
    return import_documents(docs(*documents), namespaces, access=AccessMode.OPEN, **options)


@pytest.mark.parametrize(
    ("namespace_annotation", "pod_annotation", "expected"),
    [
        ("enabled", None, True),
        ("enabled", "disabled", False),
        ("enabled", "no", False),
        ("enabled", "true", True),
        ("disabled", "enabled", True),
        ("disabled", None, False),
        (None, "enabled", False),  # the namespace is not in the mesh at all
    ],
)
def test_pods_follow_their_annotation_then_their_namespaces(
    namespace_annotation: str | None, pod_annotation: str | None, expected: bool
) -> None:
    ns_annotations = {INJECTION: namespace_annotation} if namespace_annotation else {}
    labels = {"openservicemesh.io/monitored-by": "osm"} if namespace_annotation else {}
    pod = {INJECTION: pod_annotation} if pod_annotation else {}
    documents = [
        namespace("shop", ns_annotations, labels),
        workload("web", "shop", pod),
        workload("anchor", "shop", {INJECTION: "enabled"}),  # keeps the mesh non-empty
    ]
    if namespace_annotation is None:
        documents.append(namespace("other", {INJECTION: "enabled"}))
        documents.append(workload("anchor", "other"))
    assert ("shop/web" in meshed(run(*documents))) is expected


def test_a_monitored_namespace_without_injection_meshes_only_annotated_pods() -> None:
    found = run(
        namespace("shop", labels={"openservicemesh.io/monitored-by": "prod"}),
        workload("web", "shop", {INJECTION: "enabled"}),
        workload("batch", "shop"),
    )
    assert meshed(found) == {"shop/web"}
    assert found.spec.settings.name == "prod"
    assert len(found.meshed_manifests) == 1 and len(found.other_manifests) == 2  # Namespace, batch


def test_the_ignore_label_keeps_a_namespace_out() -> None:
    found = run(
        namespace("shop", {INJECTION: "enabled"}),
        namespace("tools", {INJECTION: "enabled"}, {"openservicemesh.io/ignore": "true"}),
        workload("web", "shop"),
        workload("debug", "tools"),
    )
    assert meshed(found) == {"shop/web"}


def test_an_explicit_list_replaces_the_namespace_objects() -> None:
    found = run(
        namespace("shop", {INJECTION: "enabled"}),
        workload("web", "shop"),
        workload("worker", "jobs"),
        namespaces=["jobs"],
    )
    assert meshed(found) == {"jobs/worker"}
    assert found.namespaces == ("jobs",)


def test_host_network_pods_never_get_a_sidecar_and_a_note_says_so() -> None:
    found = run(
        workload("web", "shop"), workload("agent", "shop", hostNetwork=True), namespaces=["shop"]
    )
    assert meshed(found) == {"shop/web"}
    assert [n.path for n in found.notes if "host network" in n.message] == [
        "Deployment[shop/agent]"
    ]


@pytest.mark.parametrize(
    ("document", "code", "path"),
    [
        (
            namespace("shop", labels={INJECTION: "enabled"}),
            "smi-injection-label",
            f"Namespace[shop].metadata.labels[{INJECTION}]",
        ),
        (
            namespace("shop", {INJECTION: "maybe"}),
            "smi-injection-invalid",
            f"Namespace[shop].metadata.annotations[{INJECTION}]",
        ),
        (
            {
                **workload("web", "shop"),
                "metadata": {
                    "name": "web",
                    "namespace": "shop",
                    "annotations": {INJECTION: "enabled"},
                },
            },
            "smi-injection-misplaced",
            f"Deployment[shop/web].metadata.annotations[{INJECTION}]",
        ),
    ],
)
def test_injection_settings_osm_would_not_have_read_are_problems(
    document: Json, code: str, path: str
) -> None:
    with pytest.raises(MeshValidationError) as error:
        run(document, workload("other", "shop"), namespaces=["shop"])
    assert (code, path) in {(p.code, p.path) for p in error.value.problems}


def test_a_service_of_pods_without_sidecars_is_not_a_mesh_service() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "legacy", "namespace": "shop"},
        "spec": {"selector": {"app": "legacy"}, "ports": [{"name": "http", "port": 80}]},
    }
    found = run(
        workload("web", "shop"),
        workload("legacy", "shop", {INJECTION: "disabled"}),
        service,
        namespaces=["shop"],
    )
    assert found.spec.services == ()
    assert any(n.path == "Service[shop/legacy]" for n in found.notes)


def test_smi_resources_outside_the_mesh_are_noted_not_imported() -> None:
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "s", "namespace": "elsewhere"},
        "spec": {"service": "a", "backends": [{"service": "b", "weight": 1}]},
    }
    found = run(workload("web", "shop"), split, namespaces=["shop"])
    assert found.spec.splits == ()
    assert [n.path for n in found.notes] == ["TrafficSplit[elsewhere/s]"]


def test_several_mesh_names_need_a_choice() -> None:
    with pytest.raises(MeshValidationError) as error:
        run(
            namespace("a", labels={"openservicemesh.io/monitored-by": "one"}),
            namespace("b", labels={"openservicemesh.io/monitored-by": "two"}),
            workload("web", "a", {INJECTION: "enabled"}),
        )
    assert error.value.codes == ("smi-several-meshes",)


# Istio's and Linkerd's markers: their users' manifests mesh as written.

ISTIO, LINKERD, ISTIO_POD = "istio-injection", "linkerd.io/inject", "sidecar.istio.io/inject"


@pytest.mark.parametrize(
    ("annotations", "labels", "in_mesh"),
    [
        ({}, {ISTIO: "enabled"}, True),
        ({}, {"istio.io/rev": "canary"}, True),
        ({LINKERD: "enabled"}, {}, True),
        ({}, {ISTIO: "disabled", "istio.io/rev": "canary"}, False),  # disabled wins in Istio too
        ({LINKERD: "disabled"}, {}, False),
        ({}, {ISTIO: "maybe"}, False),
    ],
)
def test_a_namespace_marked_for_istio_or_linkerd_is_in_the_mesh(
    annotations: Json, labels: Json, in_mesh: bool
) -> None:
    documents = [namespace("shop", annotations, labels), workload("web", "shop")]
    if not in_mesh:
        with pytest.raises(MeshValidationError) as error:
            import_documents(docs(*documents), access=AccessMode.OPEN)
        assert error.value.codes == ("smi-no-mesh-namespaces",)
        assert "istio-injection: enabled" in error.value.problems[0].fix
        return
    imported = import_documents(docs(*documents), access=AccessMode.OPEN)
    assert imported.namespaces == ("shop",) and meshed(imported) == {"shop/web"}


def pod_marked(name: str, annotations: Json | None = None, labels: Json | None = None) -> Json:
    found = workload(name, "shop", annotations)
    found["spec"]["template"]["metadata"]["labels"].update(labels or {})
    return found


def test_a_pod_istio_or_linkerd_would_leave_out_stays_out_and_an_opt_out_wins() -> None:
    documents = [
        namespace("shop", labels={"openservicemesh.io/monitored-by": "osm"}),
        pod_marked("istio-label-out", labels={ISTIO_POD: "false"}),
        pod_marked("istio-annotation-out", {ISTIO_POD: "false"}),
        pod_marked("linkerd-out", {LINKERD: "disabled"}),
        pod_marked("both", {INJECTION: "enabled", LINKERD: "disabled"}),
        pod_marked("istio-in", labels={ISTIO_POD: "true"}),  # opts in, as OSM's enabled does
        pod_marked("linkerd-in", {LINKERD: "enabled"}),
        pod_marked("unmarked"),  # the namespace is only monitored: no sidecar (OSM's rule)
    ]
    imported = import_documents(docs(*documents), access=AccessMode.OPEN)
    assert meshed(imported) == {"shop/istio-in", "shop/linkerd-in"}
