"""The CA file `render` keeps between runs: the secret seed and the CA's start time.

Both must stay the same for certificates to stay byte-identical, so they live in a file the
user keeps (mode 0600, never in git), created on the first render. Pulumi keeps them in state.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki import MeshCA

SEED_BYTES = 32
HEADER = "# SECRET: the mesh CA's seed. Anyone holding it can mint mesh identities. Never commit.\n"


def load_or_create(path: Path, trust_domain: str, now: datetime) -> tuple[MeshCA, bool]:
    """The CA from `path`, creating the file when it is missing. Returns (ca, created)."""
    created = not path.exists()
    if created:
        _create(path, now)
    seed, not_before = _read(path)
    return MeshCA.from_seed(seed, trust_domain=trust_domain, not_before=not_before), created


def _create(path: Path, now: datetime) -> None:
    start = now.astimezone(UTC).replace(microsecond=0)
    body = {"seed": secrets.token_hex(SEED_BYTES), "notBefore": start.isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(HEADER + yaml.safe_dump(body, sort_keys=True))


def _read(path: Path) -> tuple[bytes, datetime]:
    try:
        body = yaml.safe_load(path.read_text())
        return bytes.fromhex(body["seed"]), datetime.fromisoformat(body["notBefore"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        expected = "a CA file with `seed` (hex) and `notBefore` (ISO 8601 time)"
        fix = "restore the file from your secret store, or pass a new path to create a new CA"
        raise MeshValidationError(
            [Problem(str(path), "ca-file-invalid", expected, str(error), fix)]
        ) from None
