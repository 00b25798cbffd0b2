"""An imported mesh as a Pulumi program: `__main__.py` and `Pulumi.yaml`, the code equivalent of
the imported spec, which compiles to the same proxy configs.

The program declares a `Mesh` over the mesh's namespaces with auto-injection, one `MeshService`
per mesh service, the splits, the policies, the destination settings, the ingress entries and
the egress rules, and every other object of the input as the `pulumi_kubernetes` resource of its
kind, written out as it was. A workload of a mesh namespace that OSM would not have injected gets
the mesh's opt-out annotation, since auto-injection covers whole namespaces. Secrets are left out
(their data would sit in the program's source), and so are the mesh's Namespaces, which the Mesh
creates, and the labels of mesh Services, which their MeshService makes: all are notes.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterator
from typing import Any

from mesh_components.emit.kubernetes.inject import TEMPLATE_PATHS
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSpec
from mesh_components.model.writer import (
    destination_document,
    egress_document,
    ingress_document,
    policy_document,
    service_document,
    settings_document,
    split_document,
)
from mesh_components.smi.documents import CLUSTER_SCOPED, Document
from mesh_components.smi.imported import ImportedMesh, Note
from mesh_components.smi.literals import INDENT, Code, literal
from mesh_components.smi.workloads import opted_out

MAIN = "__main__.py"
PROJECT = "Pulumi.yaml"

_INJECTABLE = {
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Pod"),
}
"""What the Mesh's auto-injection rewrites (`mesh_components.pulumi.injection.KINDS`)."""
_FREE_FORM = frozenset({"selector", "headers", "labels", "annotations", "env"})
_OSM_KEYS = re.compile(r"openservicemesh\.io/")

HEADER = '''"""The mesh {mesh!r}, imported from Kubernetes manifests and SMI resources by
`python -m mesh_components import`. It compiles to the same proxy configs as mesh.yaml beside it.

    pulumi config set --secret ca "$(cat ca.secret.yaml)"   # render --new-ca writes a CA file
    pulumi up
"""

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.pulumi import (
{components}
)

config = pulumi.Config()
'''


def program_files(imported: ImportedMesh) -> tuple[dict[str, str], tuple[Note, ...]]:
    """{file name: text} of the Pulumi project, and what it leaves out; raises
    MeshValidationError when a meshed workload cannot be auto-injected."""
    problems: list[Problem] = []
    notes: list[Note] = []
    resources = list(_resources(imported, problems, notes))
    if problems:
        raise MeshValidationError(problems)
    body = [*_declarations(imported.spec), *resources]
    main = HEADER.format(mesh=imported.spec.settings.name, components=_components(imported.spec))
    main += f"\n{_mesh(imported)} as mesh:\n{INDENT}mesh.auto_inject()\n"
    main += "".join(f"\n{statement}\n" for statement in body)
    return {MAIN: main, PROJECT: _project(imported.spec)}, tuple(notes)


def _components(spec: MeshSpec) -> str:
    """The components the program uses, for its import line."""
    used = ["AccessPolicy", "DestinationSettings", "Mesh", "MeshService", "TrafficSplit"]
    optional = {"MeshIngress": spec.ingress, "EgressRule": spec.egress}
    found = sorted([*used, *(name for name, declared in optional.items() if declared)])
    return "\n".join(f"    {component}," for component in found)


def _mesh(imported: ImportedMesh) -> str:
    settings = settings_document(imported.spec.settings)
    name = settings.pop("name")
    args = {
        **_snake(settings),
        "namespaces": list(imported.namespaces),
        "ca": Code('config.require_secret("ca")'),
    }
    head = f"with Mesh({json.dumps(name)}, "
    return f"{head}{literal(args, '', len(head) + 10)})"


def _declarations(spec: MeshSpec) -> Iterator[str]:
    for service in spec.services:
        yield _component("MeshService", service_document(service))
    for split in spec.splits:
        yield _component("TrafficSplit", split_document(split))
    for policy in spec.policies:
        yield _component("AccessPolicy", policy_document(policy))
    for destination in spec.destinations:
        port = "" if destination.port is None else f"-{destination.port}"
        name = f"{destination.service}{port}"
        yield _component("DestinationSettings", destination_document(destination), name)
    for entry in spec.ingress:
        yield _component("MeshIngress", ingress_document(entry))
    for rule in spec.egress:
        yield _component("EgressRule", egress_document(rule))


def _component(kind: str, document: Json, name: str | None = None) -> str:
    """`Kind("namespace/name", {args})`: resource names are unique across namespaces."""
    resource = f"{document['namespace']}/{name or document['name']}"
    head = f"{INDENT}{kind}({json.dumps(resource)}, "
    return f"{head}{literal(_snake(document), INDENT, len(head))})"


def _snake(document: Any) -> Any:
    """Spec keys as component arguments: `serviceAccount` → `service_account`, maps kept."""
    if isinstance(document, list):
        return [_snake(item) for item in document]
    if not isinstance(document, dict):
        return document
    found = {}
    for key, value in document.items():
        if key == "targetPort" and isinstance(value, str):
            found["target_port_name"] = value
            continue
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
        found[snake] = value if key in _FREE_FORM else _snake(value)
    return found


def _resources(imported: ImportedMesh, problems: list[Problem], notes: list[Note]) -> Iterator[str]:
    services = {(s.namespace, s.name) for s in imported.spec.services}
    for index, manifest in enumerate(imported.manifests):
        doc = Document("", manifest)
        if doc.kind == "Namespace" and doc.name in imported.namespaces:
            _note_namespace(doc, notes)
        elif (
            doc.kind == "Service" and doc.api_group == "" and (doc.namespace, doc.name) in services
        ):
            _note_service(doc, notes)
        elif doc.kind == "Secret" and doc.api_group == "":
            notes.append(Note(doc.path, "left out of __main__.py: apply it separately"))
        else:
            yield from _resource(doc, imported, index in imported.meshed, problems)


def _note_namespace(doc: Document, notes: list[Note]) -> None:
    kept = {
        f"{key}[{k}]"
        for key in ("labels", "annotations")
        for k in (doc.metadata.get(key) or {})
        if not _OSM_KEYS.match(k)
    }
    if kept:
        message = f"created by the Mesh, without {', '.join(sorted(kept))}"
        notes.append(Note(doc.path, message))


def _note_service(doc: Document, notes: list[Note]) -> None:
    """A mesh service is a `MeshService` in the program, whose Service carries the mesh's own
    labels (`manifests.yaml` and `render` keep the Service as it was written)."""
    kept = [key for key in ("labels", "annotations") if doc.metadata.get(key)]
    if kept:
        what = " and ".join(f"metadata.{key}" for key in kept)
        message = (
            f"{what} not carried over to mesh.yaml and __main__.py, where the mesh makes the "
            "Service with its own labels (manifests.yaml keeps the Service as written)"
        )
        notes.append(Note(doc.path, message))


def _resource(
    doc: Document, imported: ImportedMesh, meshed: bool, problems: list[Problem]
) -> Iterator[str]:
    api_version = str(doc.body["apiVersion"])
    body = doc.body
    if meshed and (api_version, doc.kind) not in _INJECTABLE:
        problems.append(_not_injectable(doc, api_version))
        return
    if doc.kind in TEMPLATE_PATHS and not meshed and doc.namespace in imported.namespaces:
        body = opted_out(body)
    yield _constructor(doc, body, problems)


def _constructor(doc: Document, body: Json, problems: list[Problem]) -> str:
    resource = doc.name if doc.kind in CLUSTER_SCOPED else f"{doc.namespace}/{doc.name}"
    fields = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "status")}
    module = _module(doc.api_group)
    if module is None or not _python_names(module, doc.api_version, doc.kind):
        cls = "k8s.apiextensions.CustomResource"
        extra = sorted(set(fields) - {"metadata", "spec"})
        if extra:
            problems.append(_custom_fields(doc, extra))
        fields = {"api_version": body["apiVersion"], "kind": doc.kind, **fields}
    else:
        cls = f"k8s.{module}.{doc.api_version}.{doc.kind}"
    args = [f"{INDENT * 2}{json.dumps(resource)},"]
    for key, value in fields.items():
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
        if not _python_names(snake):  # it would be code in the program, not an argument
            problems.append(_not_a_field(doc, key))
            continue
        args.append(
            f"{INDENT * 2}{snake}={literal(value, INDENT * 2, len(INDENT * 2) + len(snake) + 1)},"
        )
    if doc.kind not in CLUSTER_SCOPED:
        args.append(f"{INDENT * 2}opts=mesh.in_namespace({json.dumps(doc.namespace)}),")
    return f"{INDENT}{cls}(\n" + "\n".join(args) + f"\n{INDENT})"


def _python_names(*names: str) -> bool:
    """Whether each of `names` can be written in the program as a name, and is no keyword:
    the input's text becomes the program's code nowhere else."""
    return all(name.isidentifier() and not keyword.iskeyword(name) for name in names)


def _not_a_field(doc: Document, key: str) -> Problem:
    return Problem(
        f"{doc.path}.{key}",
        "smi-pulumi-field-invalid",
        "a field of the resource: a name of letters, digits and underscores",
        repr(key),
        "remove it: the API server would not keep it either",
    )


def _module(group: str) -> str | None:
    """The pulumi_kubernetes module of a built-in API group; None for custom resources."""
    if group == "":
        return "core"
    if "." not in group:
        return group
    return group.split(".", maxsplit=1)[0] if group.endswith(".k8s.io") else None


def _project(spec: MeshSpec) -> str:
    return (
        f"name: {spec.settings.name}-mesh\n"
        f"description: The mesh {spec.settings.name}, imported from Kubernetes and SMI manifests.\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: venv\n"
    )


def _not_injectable(doc: Document, api_version: str) -> Problem:
    supported = ", ".join(f"{a} {k}" for a, k in sorted(_INJECTABLE))
    return Problem(
        doc.path,
        "smi-pulumi-not-injectable",
        f"a workload the Pulumi Mesh can inject: {supported}",
        f"{api_version} {doc.kind}",
        "write it as apps/v1 or batch/v1, or deploy with mesh.yaml and `inject` instead",
    )


def _custom_fields(doc: Document, extra: list[str]) -> Problem:
    return Problem(
        doc.path,
        "smi-pulumi-custom-resource",
        "a custom resource with metadata and spec only",
        ", ".join(extra),
        "apply this object separately",
    )
