"""Every file the tool reads comes through here, and none of them can hurt it.

    read_text(path)             at most MAX_INPUT_BYTES of UTF-8 from a regular file; `-`: stdin
    files_under(root, suffixes) the files a directory holds, sorted, without following links
    parse_yaml(text, where)     one YAML document (parse_yaml_all: every document of a stream)
    parse_json(text, where)     one JSON document
    read_yaml / read_yaml_all / read_json    read_text, then parse

YAML is parsed by libyaml (when PyYAML has it) into a node graph first. Before anything is built
from it, the graph is measured without recursion: nesting deeper than MAX_NESTING, or aliases
that would expand it past MAX_EXPANDED_NODES (a "billion laughs"), or an alias inside its own
anchor, is refused. A key given twice in one mapping is refused too; YAML would silently keep
the last. JSON gets the same checks.

Every refusal is a `MeshValidationError` with a `file-*` code that names the file and, where it
can, the line. With `secret=True` (a CA file), a message never quotes the file's text.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.limits import (
    MAX_DIRECTORY_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_INPUT_BYTES,
    MAX_NESTING,
)

STDIN = "-"


def read_text(path: str | Path) -> str:
    """The text of the file at `path` (or of stdin for `-`), bounded and checked as UTF-8. Only
    a regular file is opened: a FIFO or a device would block or never end."""
    where = "stdin" if str(path) == STDIN else str(path)
    try:
        data = _read_bounded(path)
    except OSError as error:
        found = error.strerror or type(error).__name__
        raise _refused(
            where, "file-unreadable", "a readable file", found, "check the path"
        ) from None
    if len(data) > MAX_INPUT_BYTES:
        found = f"more than {MAX_INPUT_BYTES} bytes"
        expected = f"at most {MAX_INPUT_BYTES} bytes"
        raise _refused(where, "file-too-large", expected, found, "check that it is the right file")
    return decode(data, where)


def decode(data: bytes, where: str) -> str:
    """`data` as UTF-8 text; a problem names the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        found = f"byte 0x{data[error.start]:02x} at offset {error.start} (line {line})"
        fix = "save the file as UTF-8"
        raise _refused(where, "file-not-utf8", "UTF-8 text", found, fix) from None


def read_yaml(path: str | Path, *, secret: bool = False) -> Any:
    """The one YAML document in the file at `path` (None when it is empty)."""
    return parse_yaml(read_text(path), str(path), secret=secret)


def read_yaml_all(path: str | Path) -> list[Any]:
    """Every YAML document in the file at `path`, empty ones left out."""
    return parse_yaml_all(read_text(path), "stdin" if str(path) == STDIN else str(path))


def read_json(path: str | Path) -> Any:
    """The JSON document in the file at `path`."""
    return parse_json(read_text(path), str(path))


def parse_yaml(text: str, where: str, *, secret: bool = False) -> Any:
    """The one YAML document in `text` (None when it has none)."""
    documents = list(_documents(text, where, secret))
    if len(documents) > 1:
        found = f"{len(documents)} documents"
        raise _refused(where, "file-malformed", "one YAML document", found, "keep one document")
    return documents[0] if documents else None


def parse_yaml_all(text: str, where: str) -> list[Any]:
    """Every YAML document in `text`, empty ones (a stray `---`) left out."""
    return [document for document in _documents(text, where, False) if document is not None]


def parse_json(text: str, where: str) -> Any:
    """The JSON document in `text`, with the checks YAML gets."""
    try:
        document = json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKeyError as error:
        raise _duplicate(where, str(error)) from None
    except RecursionError:
        raise _too_deep(where) from None
    except ValueError as error:
        raise _refused(where, "file-malformed", "valid JSON", str(error), "fix the JSON") from None
    if _height(document) > MAX_NESTING:
        raise _too_deep(where)
    return document


class _DuplicateKeyError(Exception):
    """A mapping names the same key twice."""

    def __init__(self, key: str, lines: tuple[int, int] | None = None) -> None:
        self.lines = lines
        where = f", on lines {lines[0]} and {lines[1]}" if lines else ""
        super().__init__(f"the key {key!r} twice{where}")

    def unquoted(self) -> str:
        """The message without the key (for a secret file, whose keys may be secret)."""
        if self.lines is None:
            return "a key twice"
        return f"a key twice, on lines {self.lines[0]} and {self.lines[1]}"


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Loader):  # type: ignore[valid-type, misc]
    """Safe loading that refuses a key given twice in one mapping; keys brought in by a `<<`
    merge may still be overridden, as YAML intends."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise _DuplicateKeyError(key_node.value, (seen[key_node.value], line))
            seen[key_node.value] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


def _documents(text: str, where: str, secret: bool) -> Iterator[Any]:
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            _measure(node, where)
            yield loader.construct_document(node)
    except _DuplicateKeyError as error:
        raise _duplicate(where, error.unquoted() if secret else str(error)) from None
    except RecursionError:
        raise _too_deep(where) from None
    except ValueError as error:  # a number Python will not convert (PyYAML raises it bare)
        found = "a value that cannot be converted" if secret else str(error).splitlines()[0]
        raise _refused(where, "file-malformed", "valid YAML", found, "check the value") from None
    except yaml.YAMLError as error:
        found = _yaml_error(error, secret)
        raise _refused(where, "file-malformed", "valid YAML", found, "fix the YAML there") from None
    finally:
        loader.dispose()


def _measure(root: yaml.Node, where: str) -> None:
    """Refuse a node graph that nests too deep, or whose aliases expand it too far, or that
    holds itself. A depth-first walk with an explicit stack; each node's expanded size and
    height are computed once."""
    done: dict[int, tuple[int, int]] = {}  # node id → (expanded nodes, height)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            done[key] = _sizes(node, done)
            size, height = done[key]
            if height > MAX_NESTING:
                raise _too_deep(where)
            if size > MAX_EXPANDED_NODES and size > len(done):  # only aliases grow it so
                raise _alias_bomb(where)
        elif key in open_nodes:
            fix = "remove the alias that refers to its own anchor"
            raise _refused(where, "file-malformed", "valid YAML", "a recursive alias", fix)
        elif key not in done:
            _check_scalar(node, where)
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


_INT_TAG = "tag:yaml.org,2002:int"
MAX_INTEGER_CHARACTERS = 40
"""Far beyond any port, count or duration; Python refuses to even parse ints of 4,300 digits."""


def _check_scalar(node: yaml.Node, where: str) -> None:
    too_long = isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_INTEGER_CHARACTERS
    if too_long and node.tag == _INT_TAG:
        line = node.start_mark.line + 1
        expected = f"integers of at most {MAX_INTEGER_CHARACTERS} characters"
        found = f"one of {len(node.value)} at line {line}"
        raise _refused(where, "file-malformed", expected, found, "check the number")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _sizes(node: yaml.Node, done: dict[int, tuple[int, int]]) -> tuple[int, int]:
    children = [done[id(child)] for child in _children(node)]
    size = 1 + sum(size for size, _ in children)
    return size, 1 + max((height for _, height in children), default=0)


def _height(document: object) -> int:
    """How deeply a parsed JSON document nests, measured without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return deepest


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _DuplicateKeyError(key)
        mapping[key] = value
    return mapping


def _read_bounded(path: str | Path) -> bytes:
    if str(path) == STDIN:
        binary = getattr(sys.stdin, "buffer", None)  # None when a test swapped in a StringIO
        if binary is None:
            return sys.stdin.read(MAX_INPUT_BYTES + 1).encode()
        return bytes(binary.read(MAX_INPUT_BYTES + 1))
    # O_NONBLOCK: opening a FIFO with no writer would wait forever before the check below.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a socket)")
        return stream.read(MAX_INPUT_BYTES + 1)


def files_under(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The regular files under `root` whose names end in one of `suffixes`, sorted by path,
    hidden ones (and those in hidden directories) left out. Walked without recursion and
    without following links: a link to a file is a problem (it could reach a secret anywhere),
    and so are directories nested deeper than MAX_DIRECTORY_DEPTH."""
    found: list[Path] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if depth > MAX_DIRECTORY_DEPTH:
            expected = f"directories nested at most {MAX_DIRECTORY_DEPTH} deep"
            raise _refused(str(folder), "file-too-deep", expected, "deeper", "flatten the tree")
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise _refused(
                str(folder), "file-unreadable", "a readable directory", reason, "check the path"
            ) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_symlink() and entry.name.endswith(suffixes):
                fix = "put the file itself there, not a link to it"
                raise _refused(str(path), "file-is-link", "a regular file", "a symbolic link", fix)
            if entry.is_dir(follow_symlinks=False):
                stack.append((path, depth + 1))
            elif entry.is_file(follow_symlinks=False) and entry.name.endswith(suffixes):
                found.append(path)
    return sorted(found)


def _yaml_error(error: yaml.YAMLError, secret: bool) -> str:
    """A YAML error on one line: the problem and where (only where, for a secret file)."""
    mark = getattr(error, "problem_mark", None)
    at = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if secret:
        return f"a syntax error at {at}" if at else "a syntax error"
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    found = f"{problem} at {at}" if at else problem
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start is not None:  # "while parsing a flow sequence", where it began
        found += f" ({context} that starts at line {start.line + 1}, column {start.column + 1})"
    return found


def _duplicate(where: str, found: str) -> MeshValidationError:
    fix = "keep one of them: the last would silently win"
    return _refused(where, "file-duplicate-key", "each key once per mapping", found, fix)


def _too_deep(where: str) -> MeshValidationError:
    expected = f"at most {MAX_NESTING} levels of nesting"
    return _refused(where, "file-too-deep", expected, "deeper nesting", "flatten the document")


def _alias_bomb(where: str) -> MeshValidationError:
    expected = f"aliases that expand to at most {MAX_EXPANDED_NODES} values"
    found = "aliases that expand to more"
    return _refused(where, "file-too-many-aliases", expected, found, "write the values out")


def _refused(where: str, code: str, expected: str, found: str, fix: str) -> MeshValidationError:
    return MeshValidationError([Problem(where, code, expected, found, fix)])
