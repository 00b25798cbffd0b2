"""The CA file `render` and `inject` read: the mesh CA's secret seed and its start time.

Both must stay the same for certificates to stay byte-identical, so they live in a file the
user keeps (mode 0600, never in git). A new one is made only when asked (`--new-ca`), and
written only after the run succeeded, so a mistyped path never mints a second CA.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki import MeshCA

SEED_BYTES = 32
HEADER = "# SECRET: the mesh CA's seed. Anyone holding it can mint mesh identities. Never commit.\n"
_EXPECTED = "a CA file with `seed` (hex) and `notBefore` (ISO 8601 time)"


@dataclass(frozen=True, slots=True)
class CaSeed:
    """What the file holds. The repr never shows the seed."""

    seed: bytes
    not_before: datetime

    def __repr__(self) -> str:
        return f"CaSeed(seed=<redacted>, not_before={self.not_before.isoformat()})"

    def ca(self, trust_domain: str) -> MeshCA:
        return MeshCA.from_seed(self.seed, trust_domain=trust_domain, not_before=self.not_before)


def new_seed(now: datetime) -> CaSeed:
    """A fresh random seed, starting now (whole seconds: X.509 has no less)."""
    start = now.astimezone(UTC).replace(microsecond=0)
    return CaSeed(secrets.token_bytes(SEED_BYTES), start)


def check_new(path: Path) -> None:
    """Refuse to create a CA file over an existing one."""
    if path.exists():
        fix = "drop --new-ca to use it, or pass a path that does not exist yet"
        raise MeshValidationError([Problem(str(path), "ca-file-exists", "no file", "a file", fix)])


def save(path: Path, seed: CaSeed) -> None:
    """Write `seed` to a new file only its owner can read."""
    body = {"seed": seed.seed.hex(), "notBefore": seed.not_before.isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(HEADER + yaml.safe_dump(body, sort_keys=True))


def load(path: Path) -> CaSeed:
    """The seed in `path`. Errors never quote the file: it is a secret."""
    if not path.exists():
        fix = "pass the CA file your mesh uses, or --new-ca to create one at this path"
        raise MeshValidationError(
            [Problem(str(path), "ca-file-missing", _EXPECTED, "no file", fix)]
        )
    try:
        body = yaml.safe_load(path.read_text())
        return CaSeed(bytes.fromhex(body["seed"]), datetime.fromisoformat(body["notBefore"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise MeshValidationError([_invalid(path, error)]) from None


def _invalid(path: Path, error: Exception) -> Problem:
    mark = getattr(error, "problem_mark", None)
    where = f"unreadable YAML at line {mark.line + 1}" if mark else f"a {type(error).__name__}"
    fix = "restore the file from your secret store, or pass --new-ca with a new path"
    return Problem(str(path), "ca-file-invalid", _EXPECTED, where, fix)
