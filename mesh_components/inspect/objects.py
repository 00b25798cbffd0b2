"""Kubernetes objects read back from a render directory, which anyone could have edited.

    metadata(obj), labels(obj), data(obj)   each a mapping (empty when absent), or a problem
    reference(obj)                          (namespace, name), checked as Kubernetes names
    where(obj)                              `Kind[namespace/name]`, to name it in a problem
    checked_name(value, ...)                any other name read back, checked the same way
    invalid_name(path, rule, value)         the problem when it is not

A name read back is drawn (Mermaid, DOT, SVG) and printed: a newline, an ESC or a quote in it
could forge a line of output, rewrite the terminal or add a link to a drawing. So every name is
checked where it is read, and one that Kubernetes would refuse is a problem naming its object.
"""

from __future__ import annotations

from collections.abc import Callable

from mesh_components.emit.envoy.types import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.validate._common import is_dns_label, is_dns_subdomain

UNREADABLE = "inspect-render-unreadable"
NAME_INVALID = "inspect-render-name-invalid"
RENDER_AGAIN = "render the directory again"
NAMESPACE_RULE = "a namespace (a DNS label: lower-case letters, digits and '-')"
NAME_RULE = "a Kubernetes name (a DNS subdomain: lower-case letters, digits, '-' and '.')"
_SHOWN = 60
"""How much of a refused value a problem quotes: enough to recognize it."""


def metadata(document: Json) -> Json:
    """The object's `metadata`."""
    return _mapping(document.get("metadata"), f"{_kind(document)}.metadata")


def labels(document: Json) -> Json:
    """The object's `metadata.labels`."""
    return _mapping(metadata(document).get("labels"), f"{_kind(document)}.metadata.labels")


def data(document: Json) -> Json:
    """The object's `data` (a ConfigMap's files, a Secret's base64 values)."""
    return _mapping(document.get("data"), f"{_kind(document)}.data")


def reference(document: Json) -> tuple[str, str]:
    """(namespace, name) of the object; the namespace is "" when it names none."""
    meta = metadata(document)
    at = f"{_kind(document)}.metadata"
    name = checked_name(meta.get("name"), is_dns_subdomain, f"{at}.name", NAME_RULE)
    if meta.get("namespace") is None:
        return "", name
    namespace = checked_name(meta["namespace"], is_dns_label, f"{at}.namespace", NAMESPACE_RULE)
    return namespace, name


def where(document: Json) -> str:
    """`ConfigMap[bookstore/bookstore-v1-mesh-proxy]`: the object, for a problem's path."""
    namespace, name = reference(document)
    return f"{_kind(document)}[{namespace}/{name}]"


def checked_name(value: object, valid: Callable[[str], bool], path: str, rule: str) -> str:
    """`value`, when it is a string that `valid` accepts; else a problem at `path`."""
    if isinstance(value, str) and valid(value):
        return value
    raise invalid_name(path, rule, value)


def invalid_name(path: str, rule: str, value: object) -> MeshValidationError:
    """`value`, read at `path`, is not the name `rule` describes."""
    fix = "render the directory again: `render` writes only Kubernetes names"
    return MeshValidationError([Problem(path, NAME_INVALID, rule, shown(value), fix)])


def shown(value: object) -> str:
    """A value as a problem quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def problem(path: str, expected: str, found: str, fix: str = RENDER_AGAIN) -> MeshValidationError:
    """A render directory's object of a shape `render` never writes."""
    return MeshValidationError([Problem(path, UNREADABLE, expected, found, fix)])


def _mapping(value: object, path: str) -> Json:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(path, "a mapping", f"a {type(value).__name__}")
    return value


def _kind(document: Json) -> str:
    kind = document.get("kind")
    return kind if isinstance(kind, str) and kind.isalpha() and kind.isascii() else "object"
