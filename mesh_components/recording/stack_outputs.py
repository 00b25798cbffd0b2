"""Stack outputs as a file: what `render` writes to `stack-outputs`, and what
`--stack-reference NAME=FILE` reads for `pulumi.StackReference(NAME)`.

The format is the state the engine gives a StackReference resource:

    {"outputs": {"meshName": "shop", "ca": "..."}, "secretOutputNames": ["ca"]}

An output named in `secretOutputNames` reaches the referencing program as a secret. From a real
stack: `pulumi stack output --json --show-secrets` gives `outputs`; list the secret ones (those
`pulumi stack output --json` shows as "[secret]") in `secretOutputNames`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.recording.documents import mapping, read_document
from mesh_components.recording.properties import Properties, plain

SECRET_PLACEHOLDER = "[secret]"
UNKNOWN_PLACEHOLDER = "[unknown]"
_KEYS = ("outputs", "secretOutputNames", "unknownOutputNames")


@dataclass(frozen=True)
class StackOutputs:
    """A referenced stack's outputs and which of them are secret."""

    outputs: Mapping[str, Any]
    secret_names: frozenset[str]


def document(exports: Properties) -> dict[str, Any]:
    """The file `render` writes for a recording's exports. A preview's unknown values are
    written as "[unknown]" and listed, so such a file is never read as a real stack's."""
    names = sorted(exports.values)
    unknown = sorted({str(path[0]) for path in exports.unknowns if path})
    found: dict[str, Any] = {
        "outputs": {name: plain(exports.values[name], UNKNOWN_PLACEHOLDER) for name in names},
        "secretOutputNames": list(exports.secret_names()),
    }
    if unknown:
        found["unknownOutputNames"] = unknown
    return found


def load(name: str, file: Path) -> StackOutputs:
    """The outputs of stack `name` from `file`, or every problem with it."""
    fix = 'write {"outputs": {...}, "secretOutputNames": [...]} (render writes stack-outputs)'
    where = str(file)
    data = mapping(read_document(file, f"the outputs of stack {name}", fix), where, "a map", fix)
    problems = [
        Problem(f"{where}: {key}", "stack-outputs-key", ", ".join(_KEYS), repr(key), fix)
        for key in data
        if key not in _KEYS
    ]
    outputs = mapping(data.get("outputs"), f"{where}: outputs", "a mapping of outputs", fix)
    secret = data.get("secretOutputNames", [])
    if not isinstance(secret, list) or not all(isinstance(s, str) for s in secret):
        problems.append(
            Problem(
                f"{where}: secretOutputNames",
                "stack-outputs-secrets",
                "a list of names",
                repr(secret),
                fix,
            )
        )
        secret = []
    problems += _placeholders(where, data, outputs, secret)
    if problems:
        raise MeshValidationError(problems)
    return StackOutputs(outputs, frozenset(secret))


def _placeholders(
    where: str, data: dict[str, Any], outputs: dict[str, Any], secret: list[str]
) -> list[Problem]:
    problems = []
    if data.get("unknownOutputNames"):
        fix = "render the referenced stack without --preview"
        found = f"unknown outputs {data['unknownOutputNames']} (written by a preview)"
        problems.append(Problem(where, "stack-outputs-unknown", "known outputs", found, fix))
    for key, value in outputs.items():
        if value is None:
            problems.append(_null_output(where, key))
        elif value == SECRET_PLACEHOLDER:
            fix = "take the value from `pulumi stack output --json --show-secrets`"
            problems.append(
                Problem(
                    f"{where}: outputs.{key}",
                    "stack-outputs-redacted",
                    "the value",
                    repr(SECRET_PLACEHOLDER),
                    fix,
                )
            )
    for key in secret:
        if key not in outputs:
            problems.append(
                Problem(
                    f"{where}: secretOutputNames",
                    "stack-outputs-secrets",
                    "names of outputs in `outputs`",
                    repr(key),
                    "remove it or add the output",
                )
            )
    return problems


def state(outputs: StackOutputs | None, name: str) -> Properties:
    """The StackReference resource's state, as the engine answers a read of it."""
    found = outputs.outputs if outputs is not None else {}
    secret = outputs.secret_names if outputs is not None else frozenset()
    values = {
        "name": name,
        "outputs": {key: found[key] for key in sorted(found)},
        "secretOutputNames": sorted(secret),
    }
    return Properties(values, frozenset(("outputs", key) for key in secret))


def _null_output(where: str, key: str) -> Problem:
    """A `null` output never reaches the program: Pulumi's SDK drops null properties, so the
    program's `require_output` would fail with a bare KeyError."""
    return Problem(
        f"{where}: outputs.{key}",
        "stack-outputs-null",
        "a value (the program cannot receive a null output: Pulumi drops it)",
        "null",
        "give the output its value, or remove it from the file",
    )
