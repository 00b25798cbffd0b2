"""The Kubernetes objects a local cluster runs: read from a render directory, checked, indexed.

Only what a kubelet and kube-proxy need is accepted: Namespaces, ServiceAccounts, ConfigMaps,
Secrets, Services and the pod-making kinds. Anything else is a problem naming the object, so a
user learns at once what the runner cannot do rather than finding it missing later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mesh_components import inputs
from mesh_components.emit.kubernetes.inject import as_json
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pipeline.injection import under

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod")
PASSIVE_KINDS = ("Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "CronJob")
"""Kinds stored but not run: CronJob schedules are not run locally (docs/local.md)."""


@dataclass(frozen=True, slots=True)
class Manifests:
    """Every object of one apply, keyed by (kind, namespace, name)."""

    objects: dict[tuple[str, str, str], Json]

    def of_kind(self, kind: str) -> list[Json]:
        return [obj for (k, _, _), obj in sorted(self.objects.items()) if k == kind]

    def get(self, kind: str, namespace: str, name: str) -> Json | None:
        return self.objects.get((kind, namespace, name))

    def workloads(self) -> list[Json]:
        return [obj for kind in WORKLOAD_KINDS for obj in self.of_kind(kind)]


def read_dir(path: Path) -> Manifests:
    """Every YAML document under `path` (a directory, walked without following links, or one
    file), checked."""
    if not path.exists():
        fix = "pass the output directory of `render -o DIR`"
        raise MeshValidationError(
            [Problem(str(path), "local-input-missing", "a path", "none", fix)]
        )
    files = inputs.files_under(path, (".yaml", ".yml")) if path.is_dir() else [path]
    documents: list[Json] = []
    problems: list[Problem] = []
    for file in files:
        try:
            documents += inputs.read_yaml_all(file)
        except MeshValidationError as error:
            problems.extend(error.problems)
    if not documents and not problems:
        fix = "render the mesh into it first"
        found = "no YAML files"
        problems.append(Problem(str(path), "local-input-empty", "manifests", found, fix))
    if problems:
        raise MeshValidationError(problems)
    return index(documents)


def index(documents: Iterable[Json]) -> Manifests:
    """Check kinds and names; read as JSON (as kubectl sends YAML), so YAML anchors never
    alias (FACTS.md) and a timestamp is its text."""
    objects: dict[tuple[str, str, str], Json] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(documents):
        obj, unsendable = as_json(raw)
        found = [*_problems(obj, number), *under(f"document[{number}]", unsendable)]
        problems += found
        if not found:
            key = (obj["kind"], _namespace(obj), obj["metadata"]["name"])
            if key in objects:
                problems.append(Problem(_label(obj), "local-duplicate", "one object", "two"))
            objects[key] = obj
    if problems:
        raise MeshValidationError(problems)
    return Manifests(objects)


def _problems(obj: object, number: int) -> Iterator[Problem]:
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        yield Problem(f"document[{number}]", "local-object-invalid", "a Kubernetes object", "other")
        return
    meta = obj["metadata"]
    if not meta.get("name") or not isinstance(meta["name"], str):
        yield Problem(f"document[{number}]", "local-object-invalid", "metadata.name", "none")
        return
    if not isinstance(meta.get("namespace") or "", str):
        found = "a namespace that is no string"
        yield Problem(f"document[{number}]", "local-object-invalid", "metadata.namespace", found)
        return
    kind = obj.get("kind")
    if kind not in WORKLOAD_KINDS + PASSIVE_KINDS:
        supported = ", ".join(WORKLOAD_KINDS + PASSIVE_KINDS)
        fix = "leave it out of the local run (it is applied to real clusters only)"
        if kind == "Certificate":
            fix = "use the built-in CA (mesh.certificates.issuer: builtin) to run locally"
        yield Problem(_label(obj), "local-kind-unsupported", f"one of {supported}", str(kind), fix)


def _namespace(obj: Json) -> str:
    return "" if obj["kind"] == "Namespace" else str(obj["metadata"].get("namespace") or "default")


def _label(obj: Json) -> str:
    namespace = _namespace(obj)
    name = obj.get("metadata", {}).get("name", "?")
    return f"{obj.get('kind')}[{namespace + '/' if namespace else ''}{name}]"


def label(obj: Json) -> str:
    """`Kind[namespace/name]`, the path used in problems about an object."""
    return _label(obj)


def namespace_of(obj: Json) -> str:
    return _namespace(obj)


def pod_template(workload: Json) -> Json:
    """The pod template of a workload (a bare Pod is its own template)."""
    if workload["kind"] == "Pod":
        return {"metadata": workload["metadata"], "spec": workload["spec"]}
    template: Json = workload["spec"]["template"]
    return template


def replicas(workload: Json) -> int:
    """How many pods a workload wants on our single node."""
    if workload["kind"] in ("Pod", "DaemonSet", "Job"):
        return 1
    return int(workload["spec"].get("replicas", 1))


def matches(selector: Sequence[tuple[str, str]] | dict[str, str], labels: dict[str, str]) -> bool:
    """A Service's equality selector against a pod's labels (empty selects nothing)."""
    pairs = selector.items() if isinstance(selector, dict) else selector
    items = list(pairs)
    return bool(items) and all(labels.get(k) == v for k, v in items)
