"""Stack config as the engine hands it to a program: defaults from Pulumi.yaml, then
`Pulumi.<stack>.yaml`, then `--config key=value` overrides, each key as `namespace:key`.

Values reach the program as strings, structured ones as JSON, like the engine sends them.
`secure:` values cannot be decrypted here: they are kept out of the program, and reading one
is a problem that names the key and the override that supplies it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.recording.documents import mapping, read_document
from mesh_components.recording.project import Project


@dataclass(frozen=True)
class StackConfig:
    """Every config value of a stack, by full key (`project:key`), as the program reads it."""

    stack_file: Path
    values: Mapping[str, str]
    secret_keys: frozenset[str]
    secure_keys: frozenset[str]

    def short(self, key: str, project: str) -> str:
        """The key as `--config` takes it: without the namespace when it is the project's."""
        return key.removeprefix(f"{project}:")


def full_key(key: str, project: str) -> str:
    """`key` with the project namespace when it has none."""
    return key if ":" in key else f"{project}:{key}"


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """`["key=value", ...]` (the `--config` flags) as a mapping; every malformed one a problem."""
    found: dict[str, str] = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fix = "write --config key=value (or namespace:key=value)"
            problems.append(Problem("--config", "config-flag", "key=value", repr(pair), fix))
        found[key] = value
    if problems:
        raise MeshValidationError(problems)
    return found


def stack_config(project: Project, stack: str, overrides: Mapping[str, str]) -> StackConfig:
    """The config of `stack`: project defaults < stack file < overrides."""
    file = project.directory / f"Pulumi.{stack}.yaml"
    values: dict[str, str] = {}
    secret: set[str] = set()
    secure: set[str] = set()
    for key, declared in project.config.items():
        full = full_key(key, project.name)
        default = _declared_default(declared)
        if default is not None:
            values[full] = _wire(default)
        if isinstance(declared, dict) and declared.get("secret") is True:
            secret.add(full)
    for key, value in _stack_file_values(file).items():
        full = full_key(key, project.name)
        if _has_secure(value):
            secure.add(full)
            secret.add(full)
            values.pop(full, None)
        else:
            values[full] = _wire(value)
    for key, value in overrides.items():
        full = full_key(key, project.name)
        values[full] = value
        secure.discard(full)
    return StackConfig(file, values, frozenset(secret), frozenset(secure))


def _stack_file_values(file: Path) -> dict[str, Any]:
    if not file.exists():
        return {}
    fix = "fix the stack file, or remove it and pass --config key=value"
    data = mapping(read_document(file, "a stack config file", fix), str(file), "a mapping", fix)
    return mapping(data.get("config"), f"{file}: config", "a mapping of config keys", fix)


def _declared_default(declared: Any) -> Any:
    """A Pulumi.yaml config entry's value: `{type, default|value, ...}` or a bare value."""
    if isinstance(declared, dict) and ("type" in declared or "default" in declared):
        return declared.get("default", declared.get("value"))
    return declared


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _wire(value: Any) -> str:
    """A config value as the engine passes it: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class GuardedConfig(dict[str, str]):
    """The program's config map. A key whose value is an undecryptable `secure:` is present
    (so `Config.get` finds it), but reading it calls `on_read`, which raises."""

    def __init__(self, config: StackConfig, on_read: Callable[[str], MeshValidationError]) -> None:
        super().__init__(config.values)
        for key in config.secure_keys:
            super().__setitem__(key, "")
        self._secure = config.secure_keys
        self._on_read = on_read

    def __getitem__(self, key: str) -> str:
        if key in self._secure:
            raise self._on_read(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 (self.get is this method)


def secure_problem(key: str, config: StackConfig, project: str) -> Problem:
    """Reading an encrypted value: what to pass instead."""
    short = config.short(key, project)
    return Problem(
        f"config[{key}]",
        "config-secure",
        "a value render can read",
        f"an encrypted `secure:` value in {config.stack_file.name}, which only the Pulumi CLI "
        "can decrypt",
        f"pass --config {short}=VALUE (it stays a secret when the program reads it as one)",
    )
