"""Reading the YAML and JSON files a recording needs (Pulumi.yaml, stack files, stack outputs).

A missing or malformed file is a problem with a fix, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mesh_components import inputs
from mesh_components.errors import MeshValidationError, Problem


def read_document(path: Path, expected: str, fix: str) -> Any:
    """The parsed contents of a YAML (or JSON) file, read through `inputs`; a missing file
    is a problem that says what was expected there and the fix."""
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no file"
        raise MeshValidationError([Problem(str(path), "file-unreadable", expected, found, fix)])
    if path.suffix == ".json":
        return inputs.read_json(path)
    return inputs.read_yaml(path)


def mapping(value: Any, path: str, expected: str, fix: str) -> dict[str, Any]:
    """`value` when it is a mapping with string keys (an empty file counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        found = f"a {type(value).__name__}"
        raise MeshValidationError([Problem(path, "file-wrong-type", expected, found, fix)])
    return value
