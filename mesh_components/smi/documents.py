"""The input: every YAML or JSON document of a directory (recursively, in path order, links
and hidden files left out), a file, or stdin, as plain objects that share nothing (YAML anchors
are copied apart).

Each object is read as `kubectl apply` would send it: YAML as JSON, so a timestamp is its text.
`kind: List` objects are unpacked. A document that is not a Kubernetes object is a problem, and
so is metadata the API server would refuse (a label that is not a string).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from mesh_components import inputs
from mesh_components.emit.kubernetes.inject import SHAPE, as_json, described, metadata_problems
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.kinds import CLUSTER_SCOPED_KINDS
from mesh_components.pipeline.injection import kind_of, under
from mesh_components.pipeline.objects import object_name

Json = dict[str, Any]
SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
CLUSTER_SCOPED = CLUSTER_SCOPED_KINDS
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
"""A kind is the name of a Go type: it becomes part of file names when a directory renders."""


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
        return object_name(self.body)


def read_documents(source: str | Path) -> list[Document]:
    """Every object under `source` (a directory, a file, or `-` for stdin), in input order."""
    found, problems = read_input(source)
    if problems:
        raise MeshValidationError(problems)
    return found


def read_input(source: str | Path) -> tuple[list[Document], list[Problem]]:
    """The objects under `source` that are well formed, and the problems of the others, so that
    an import can list them beside its own."""
    problems: list[Problem] = []
    found: list[Document] = []
    for origin, text in _texts(source):
        for document, refused in _parse(origin, text, problems):
            problems += refused
            if not refused:
                found.append(document)
    return found, problems


def _texts(source: str | Path) -> Iterator[tuple[str, str]]:
    if str(source) == STDIN:
        yield "stdin", inputs.read_text(STDIN)
        return
    root = Path(source)
    if not root.is_dir():
        yield str(root), inputs.read_text(root)
        return
    for file in inputs.files_under(root, SUFFIXES):
        yield str(file.relative_to(root)), inputs.read_text(file)


def _parse(
    origin: str, text: str, problems: list[Problem]
) -> Iterator[tuple[Document, list[Problem]]]:
    """Each object of a file, with what the API server would refuse of it."""
    try:
        loaded = inputs.parse_yaml_all(text, origin)
    except MeshValidationError as error:
        problems.extend(error.problems)
        return
    for index, body in enumerate(loaded):
        for where, item in _unpacked(f"{origin}#{index}", body):
            if _is_object(item):
                yield _document(where, item)
            else:
                problems.append(_not_an_object(where, item))


def _document(origin: str, item: Json) -> tuple[Document, list[Problem]]:
    """The object as kubectl would send it, and what the API server would refuse of it."""
    body, unsendable = as_json(item)
    document = Document(origin, body)
    problems = under(document.path, unsendable)
    if not _KIND.fullmatch(document.kind):
        expected = "a kind: a letter, then letters and digits (as Deployment)"
        fix = "name a kind the cluster serves"
        kind = described(document.kind)
        problems.append(Problem(f"{origin}.kind", SHAPE, expected, kind, fix))
    problems += under(document.path, metadata_problems(body.get("metadata"), "metadata"))
    return document, problems


def _unpacked(origin: str, body: object) -> list[tuple[str, object]]:
    """The items of a `kind: List` (or `FooList`), else the object itself, with origins."""
    if isinstance(body, dict) and str(body.get("kind", "")).endswith("List"):
        items = body.get("items")
        if isinstance(items, list):
            return [(f"{origin}.items[{i}]", item) for i, item in enumerate(items)]
    return [(origin, body)]


def _is_object(item: object) -> TypeGuard[Json]:
    if not isinstance(item, dict):
        return False
    return all(isinstance(item.get(key), str) and item[key] for key in ("apiVersion", "kind"))


def _not_an_object(origin: str, item: object) -> Problem:
    expected = "a Kubernetes object (a mapping with apiVersion and kind)"
    fix = "give it apiVersion and kind, or remove it"
    return Problem(origin, "smi-not-an-object", expected, kind_of(item), fix)
