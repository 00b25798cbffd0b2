"""Read a mesh spec from a YAML file (or a directory holding `mesh.yaml`) into the model.

This is the only I/O on the way in: it parses, unaliases and hands the data to `load_spec`.
"""

from __future__ import annotations

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


class DuplicateKeyError(Exception):
    """A mapping names the same key twice: YAML would keep the last one, silently."""

    def __init__(self, key: str, first_line: int, line: int) -> None:
        super().__init__(f"the key {key!r} twice, on lines {first_line} and {line}")


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading (with libyaml where installed) that refuses a key given twice in one
    mapping; keys brought in by a `<<` merge may still be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise DuplicateKeyError(key_node.value, seen[key_node.value], line)
            seen[key_node.value] = line
        mapping: dict[object, object] = super().construct_mapping(node, deep)
        return mapping


def _parse(file: Path) -> object:
    try:
        with file.open(encoding="utf-8") as stream:
            return yaml.load(stream, Loader=_StrictLoader)  # a safe loader
    except OSError as error:
        raise _unreadable(file, error.strerror or str(error), "check the path") from error
    except DuplicateKeyError as error:
        fix = "keep one of them: YAML would silently use the last"
        raise MeshValidationError(
            [Problem(str(file), "spec-duplicate-key", "each key once per mapping", str(error), fix)]
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise _unreadable(file, str(error), "fix the YAML at the line shown") from error


def _unalias(data: object, file: Path) -> object:
    """A fresh copy of every mapping and list: YAML anchors share one dict between every alias
    of it, so editing one would edit all. Scalars keep their YAML types, so the loader still
    reports an integer key or a date where a string belongs. A recursive alias is reported.
    """

    def copy(node: object, ancestors: frozenset[int]) -> object:
        if not isinstance(node, dict | list):
            return node
        if id(node) in ancestors:
            fix = "remove the alias that refers to its own anchor"
            raise _unreadable(file, "a recursive YAML alias", fix)
        inner = ancestors | {id(node)}
        if isinstance(node, list):
            return [copy(item, inner) for item in node]
        return {key: copy(value, inner) for key, value in node.items()}

    return copy(data, frozenset())


def _unreadable(file: Path, found: str, fix: str) -> MeshValidationError:
    expected = "a readable YAML file"
    return MeshValidationError([Problem(str(file), "spec-unreadable", expected, found, fix)])
