"""Reading the YAML and JSON files a recording needs (Pulumi.yaml, stack files, stack outputs).

A missing or malformed file is a problem with a fix, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mesh_components.errors import MeshValidationError, Problem


def read_document(path: Path, expected: str, fix: str) -> Any:
    """The parsed contents of a YAML (or JSON, a subset of YAML) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        found = error.strerror or str(error)
        raise MeshValidationError(
            [Problem(str(path), "file-unreadable", expected, found, fix)]
        ) from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as error:
        found = f"invalid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}"
        raise MeshValidationError(
            [Problem(str(path), "file-malformed", expected, found, "fix the file")]
        ) from None


def mapping(value: Any, path: str, expected: str, fix: str) -> dict[str, Any]:
    """`value` when it is a mapping with string keys (an empty file counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        found = f"a {type(value).__name__}"
        raise MeshValidationError([Problem(path, "file-wrong-type", expected, found, fix)])
    return value
