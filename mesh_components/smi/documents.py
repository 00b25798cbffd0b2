"""The input: every YAML or JSON document of a directory (recursively, in path order), a file,
or stdin, as plain objects that share nothing (YAML anchors are copied apart).

`kind: List` objects are unpacked. A document that is not a Kubernetes object is a problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_components import inputs
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.kinds import CLUSTER_SCOPED_KINDS

Json = dict[str, Any]
SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
CLUSTER_SCOPED = CLUSTER_SCOPED_KINDS


@dataclass(frozen=True, slots=True)
class Document:
    """One Kubernetes object of the input."""

    origin: str
    """Where it came from: `file.yaml#2` (the document's index in its file)."""
    body: Json

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def api_group(self) -> str:
        """`apps` for `apps/v1`, `` for `v1`."""
        group, _, _ = str(self.body.get("apiVersion", "")).rpartition("/")
        return group

    @property
    def api_version(self) -> str:
        """`v1alpha3` for `access.smi-spec.io/v1alpha3`."""
        return str(self.body.get("apiVersion", "")).rpartition("/")[2]

    @property
    def metadata(self) -> Json:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """Its namespace, `default` when it names none (as kubectl applies it)."""
        return str(self.metadata.get("namespace", "default"))

    @property
    def path(self) -> str:
        """How problems name it: `Kind[namespace/name]`, or `Kind[name]` outside namespaces."""
        if self.kind in CLUSTER_SCOPED:
            return f"{self.kind}[{self.name}]"
        return f"{self.kind}[{self.namespace}/{self.name}]"


def read_documents(source: str | Path) -> list[Document]:
    """Every object under `source` (a directory, a file, or `-` for stdin), in input order."""
    problems: list[Problem] = []
    found = [doc for origin, text in _texts(source) for doc in _parse(origin, text, problems)]
    if problems:
        raise MeshValidationError(problems)
    return found


def _texts(source: str | Path) -> Iterator[tuple[str, str]]:
    if str(source) == STDIN:
        yield "stdin", inputs.read_text(STDIN)
        return
    root = Path(source)
    if not root.is_dir():
        yield str(root), inputs.read_text(root)
        return
    files = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    for file in files:
        if not any(part.startswith(".") for part in file.relative_to(root).parts):
            yield str(file.relative_to(root)), inputs.read_text(file)


def _parse(origin: str, text: str, problems: list[Problem]) -> Iterator[Document]:
    try:
        loaded = inputs.parse_yaml_all(text, origin)
    except MeshValidationError as error:
        problems.extend(error.problems)
        return
    for index, body in enumerate(loaded):
        for where, item in _unpacked(f"{origin}#{index}", body):
            if _is_object(item):
                yield Document(where, json.loads(json.dumps(item, default=str)))
            else:
                problems.append(_not_an_object(where, item))


def _unpacked(origin: str, body: object) -> list[tuple[str, object]]:
    """The items of a `kind: List` (or `FooList`), else the object itself, with origins."""
    if isinstance(body, dict) and str(body.get("kind", "")).endswith("List"):
        items = body.get("items")
        if isinstance(items, list):
            return [(f"{origin}.items[{i}]", item) for i, item in enumerate(items)]
    return [(origin, body)]


def _is_object(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    return all(isinstance(item.get(key), str) and item[key] for key in ("apiVersion", "kind"))


def _not_an_object(origin: str, item: object) -> Problem:
    expected = "a Kubernetes object (a mapping with apiVersion and kind)"
    fix = "give it apiVersion and kind, or remove it"
    return Problem(origin, "smi-not-an-object", expected, repr(item)[:60], fix)
