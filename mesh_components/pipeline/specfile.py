"""Read a mesh spec from a YAML file (or a directory holding `mesh.yaml`) into the model.

This is the only I/O on the way in: it reads the file through `inputs` (bounded, strict YAML),
copies anchors apart and hands the data to `load_spec`.
"""

from __future__ import annotations

from pathlib import Path

from mesh_components import inputs
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model.loader import load_spec
from mesh_components.model.mesh import MeshSpec

SPEC_FILE = "mesh.yaml"
PULUMI_PROJECT = "Pulumi.yaml"


def read_spec(path: str | Path) -> MeshSpec:
    """Load the spec at `path`, or raise one `MeshValidationError` listing every problem."""
    file = Path(path)
    if file.is_dir():
        if not (file / SPEC_FILE).exists() and (file / PULUMI_PROJECT).exists():
            raise _pulumi_project(file)
        file = file / SPEC_FILE
    data = _unalias(inputs.read_yaml(file))
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__} at the top level"
        fix = "start the file with a `mesh:` mapping"
        raise MeshValidationError([Problem(str(file), "spec-wrong-type", "a mapping", found, fix)])
    return load_spec(data)


def _unalias(data: object) -> object:
    """A fresh copy of every mapping and list: YAML anchors share one dict between every alias
    of it, so editing one would edit all. Scalars keep their YAML types, so the loader still
    reports an integer key or a date where a string belongs. `inputs` bounds the nesting, and
    refuses an alias inside its own anchor.
    """
    if isinstance(data, list):
        return [_unalias(item) for item in data]
    if isinstance(data, dict):
        return {key: _unalias(value) for key, value in data.items()}
    return data


def _pulumi_project(directory: Path) -> MeshValidationError:
    found = f"a Pulumi project ({PULUMI_PROJECT}) and no {SPEC_FILE}"
    fix = (
        f"run `python -m mesh_components render {directory} -o OUT`, which runs the program "
        "and checks the mesh it declares, or pass a spec file"
    )
    return MeshValidationError(
        [Problem(str(directory), "spec-is-pulumi-project", f"a {SPEC_FILE} spec", found, fix)]
    )
