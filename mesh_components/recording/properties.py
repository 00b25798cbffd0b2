"""Property values as the engine sees them: plain JSON plus the paths that are secret or unknown.

The SDK's own decoder pushes secretness up to the top-level property, so it cannot say which
field of a Secret was secret. `decode` walks the wire struct itself and keeps exact paths;
`encode` turns a value back into what the SDK expects from the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime import rpc

PathKey = str | int
PropertyPath = tuple[PathKey, ...]


class Unknown:
    """A value the engine does not know yet (during a preview)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Properties:
    """A resource's (or the stack's) properties. `values` is plain JSON, secrets included in
    the clear (with UNKNOWN where a preview knows nothing); `secrets` and `unknowns` are the
    paths (`("stringData", "password")`) that the engine marks."""

    values: Mapping[str, Any] = field(default_factory=dict)
    secrets: frozenset[PropertyPath] = frozenset()
    unknowns: frozenset[PropertyPath] = frozenset()

    def is_secret(self, path: PropertyPath) -> bool:
        """Whether the value at `path`, or anything that contains it, is secret."""
        return any(path[: len(secret)] == secret for secret in self.secrets)

    def holds_secret(self, path: PropertyPath = ()) -> bool:
        """Whether the value at `path` is secret or contains a secret."""
        return any(secret[: len(path)] == path for secret in self.secrets) or self.is_secret(path)

    def secret_names(self) -> tuple[str, ...]:
        """The top-level properties that are or hold a secret, sorted."""
        return tuple(sorted({str(path[0]) for path in self.secrets if path}))


def dotted(path: PropertyPath) -> str:
    """`("spec", "ports", 0, "port")` as `spec.ports[0].port`."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def decode(struct: struct_pb2.Struct) -> Properties:
    """A wire struct (as `RegisterResource` receives it) as Properties."""
    secrets: set[PropertyPath] = set()
    unknowns: set[PropertyPath] = set()
    values = {
        key: _decode(value, (key,), secrets, unknowns)
        for key, value in sorted(struct.items())
        if value is not None
    }
    return Properties(values, frozenset(secrets), frozenset(unknowns))


def _decode(
    value: Any, path: PropertyPath, secrets: set[PropertyPath], unknowns: set[PropertyPath]
) -> Any:
    if value == rpc.UNKNOWN:
        unknowns.add(path)
        return UNKNOWN
    if isinstance(value, struct_pb2.ListValue):
        return [_decode(item, (*path, i), secrets, unknowns) for i, item in enumerate(value)]
    if isinstance(value, struct_pb2.Struct):
        return _decode_struct(value, path, secrets, unknowns)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire has only doubles; the API wants integers
    return value


def _decode_struct(
    value: struct_pb2.Struct,
    path: PropertyPath,
    secrets: set[PropertyPath],
    unknowns: set[PropertyPath],
) -> Any:
    key = rpc._special_sig_key
    signature = value[key] if key in value else None  # noqa: SIM401 (a Struct has no get)
    if signature == rpc._special_secret_sig:
        secrets.add(path)
        return _decode(value["value"], path, secrets, unknowns)
    if signature == rpc._special_resource_sig:
        # A resource reference: what a provider without reference support would get.
        known = "id" in value and value["id"]  # a Struct has no get
        return str(value["id"]) if known else str(value["urn"])
    return {
        key: _decode(item, (*path, key), secrets, unknowns)
        for key, item in sorted(value.items())
        if key != rpc._special_sig_key and item is not None
    }


def encode(properties: Properties) -> dict[str, Any]:
    """Values for the SDK: secret paths wrapped as secrets, unknowns as the unknown marker."""
    return {
        key: _encode(value, (key,), properties.secrets) for key, value in properties.values.items()
    }


def _encode(value: Any, path: PropertyPath, secrets: frozenset[PropertyPath]) -> Any:
    if value is UNKNOWN:
        encoded: Any = rpc.UNKNOWN
    elif isinstance(value, Mapping):
        encoded = {k: _encode(v, (*path, k), secrets) for k, v in value.items()}
    elif isinstance(value, list):
        encoded = [_encode(v, (*path, i), secrets) for i, v in enumerate(value)]
    else:
        encoded = value
    return rpc.wrap_rpc_secret(encoded) if path in secrets else encoded


def within(paths: Iterable[PropertyPath], prefix: PropertyPath) -> frozenset[PropertyPath]:
    """The paths under `prefix`, relative to it."""
    return frozenset(p[len(prefix) :] for p in paths if p[: len(prefix)] == prefix)


def plain(value: Any, unknown: str) -> Any:
    """`value` with every UNKNOWN replaced by `unknown` (for files, which cannot hold one)."""
    if value is UNKNOWN:
        return unknown
    if isinstance(value, Mapping):
        return {k: plain(v, unknown) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, unknown) for v in value]
    return value
