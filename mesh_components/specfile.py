"""Read a mesh spec from a YAML file (or a directory holding `mesh.yaml`) into the model.

This is the only I/O on the way in: it parses, unaliases and hands the data to `load_spec`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model.loader import load_spec
from mesh_components.model.mesh import MeshSpec

SPEC_FILE = "mesh.yaml"


def read_spec(path: str | Path) -> MeshSpec:
    """Load the spec at `path`, or raise one `MeshValidationError` listing every problem."""
    file = Path(path)
    if file.is_dir():
        file = file / SPEC_FILE
    data = _unalias(_parse(file), file)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__} at the top level"
        fix = "start the file with a `mesh:` mapping"
        raise MeshValidationError([Problem(str(file), "spec-wrong-type", "a mapping", found, fix)])
    return load_spec(data)


def _parse(file: Path) -> object:
    try:
        with file.open(encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except OSError as error:
        raise _unreadable(file, error.strerror or str(error), "check the path") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise _unreadable(file, str(error), "fix the YAML at the line shown") from error


def _unalias(data: object, file: Path) -> object:
    """Copy the data through JSON: YAML anchors share one dict between every alias of it.

    YAML timestamps become their text; a recursive alias cannot be copied and is reported.
    """
    try:
        copied: object = json.loads(json.dumps(data, default=str))
    except (TypeError, ValueError) as error:
        raise _unreadable(file, str(error), "use plain mappings, lists and scalars") from error
    return copied


def _unreadable(file: Path, found: str, fix: str) -> MeshValidationError:
    expected = "a readable YAML file"
    return MeshValidationError([Problem(str(file), "spec-unreadable", expected, found, fix)])
