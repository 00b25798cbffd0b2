"""The CA file `render` and `inject` read: the mesh CA's key material, and any rollover under way.

A CA is a secret seed and its start time (the built-in CA), or a certificate and key the user
imported. Either must stay the same for certificates to stay byte-identical, so it lives in a
file the user keeps (mode 0600, never in git). During a rollover the file also holds the next
CA (stage 1), or the previous one and when it stops being trusted (stage 2); see
`mesh_components.pki.rollover`. Writes are atomic: a crash leaves the old file or the new one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mesh_components import inputs
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki.authority import MeshCA
from mesh_components.pki.imported import load_ca
from mesh_components.pki.rollover import MeshTrust

SEED_BYTES = 32
# The times a CA file may name: X.509 writes years up to 9999, and a CA's validity must fit.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
HEADER = "# SECRET: the mesh CA's key material. Anyone holding it can mint mesh identities.\n"
_EXPECTED = (
    "a CA file with `seed` (hex) and `notBefore` (ISO 8601 time), or `certificate` and `key` "
    "(PEM), optionally with `next`, or `previous` and `previousTrustedUntil`"
)


@dataclass(frozen=True, slots=True)
class SeededCa:
    """A built-in CA: its secret seed and start time. The repr never shows the seed."""

    seed: bytes
    not_before: datetime

    def ca(self, trust_domain: str) -> MeshCA:
        return MeshCA.from_seed(self.seed, trust_domain=trust_domain, not_before=self.not_before)

    def body(self) -> dict[str, str]:
        return {"seed": self.seed.hex(), "notBefore": self.not_before.isoformat()}

    def __repr__(self) -> str:
        return f"SeededCa(seed=<redacted>, not_before={self.not_before.isoformat()})"


@dataclass(frozen=True, slots=True)
class ImportedCa:
    """A CA the user brings, as PEM. The repr never shows the key."""

    certificate_pem: bytes
    key_pem: bytes

    def ca(self, trust_domain: str) -> MeshCA:
        return MeshCA.imported(self.certificate_pem, self.key_pem, trust_domain=trust_domain)

    def check(self) -> ImportedCa:
        """Itself, once its certificate is a CA that may sign and its key matches."""
        load_ca(self.certificate_pem, self.key_pem)
        return self

    def body(self) -> dict[str, str]:
        return {"certificate": self.certificate_pem.decode(), "key": self.key_pem.decode()}

    def __repr__(self) -> str:
        return "ImportedCa(certificate=<pem>, key=<redacted>)"


CaSource = SeededCa | ImportedCa


@dataclass(frozen=True, slots=True)
class CaFile:
    """The issuing CA, and the CA rolling in (`next`) or out (`previous`) beside it."""

    current: CaSource
    next: CaSource | None = None
    previous: CaSource | None = None
    previous_trusted_until: datetime | None = None

    def trust(self, trust_domain: str) -> MeshTrust:
        """The CAs as the PKI uses them; MeshTrust checks the rollover is consistent."""
        return MeshTrust(
            issuer=self.current.ca(trust_domain),
            next=None if self.next is None else self.next.ca(trust_domain),
            previous=None if self.previous is None else self.previous.ca(trust_domain),
            previous_trusted_until=self.previous_trusted_until,
        )

    def body(self) -> dict[str, Any]:
        found: dict[str, Any] = dict(self.current.body())
        if self.next is not None:
            found["next"] = self.next.body()
        if self.previous is not None and self.previous_trusted_until is not None:
            found["previous"] = self.previous.body()
            found["previousTrustedUntil"] = self.previous_trusted_until.isoformat()
        return found


def new_seed(now: datetime) -> SeededCa:
    """A fresh random seed, starting now (whole seconds: X.509 has no less)."""
    start = now.astimezone(UTC).replace(microsecond=0)
    return SeededCa(secrets.token_bytes(SEED_BYTES), start)


def check_new(path: Path) -> None:
    """Refuse to create a CA file over an existing one."""
    if path.exists():
        fix = "drop --new-ca to use it, or pass a path that does not exist yet"
        raise MeshValidationError([Problem(str(path), "ca-file-exists", "no file", "a file", fix)])


def text_of(state: CaFile) -> str:
    """The file's text: what `save` writes, and what a Pulumi stack keeps as its `ca` config."""
    return HEADER + yaml.safe_dump(state.body(), sort_keys=True)


def save(path: Path, state: CaFile) -> None:
    """Write `state` to `path` atomically, readable by its owner only. A link is followed:
    the file it names is the CA file, and replacing the link would leave two of them."""
    path = path.resolve() if path.is_symlink() else path
    text = text_of(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp creates it with mode 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path) -> CaFile:
    """The CAs in `path`. Errors never quote the file: it is a secret. A file that others may
    read is refused: anyone who can read it can mint mesh identities."""
    if not path.exists():
        fix = "pass the CA file your mesh uses, or --new-ca to create one at this path"
        raise MeshValidationError(
            [Problem(str(path), "ca-file-missing", _EXPECTED, "no file", fix)]
        )
    _check_private(path)
    return parse(inputs.read_text(path), str(path))


def parse(text: str, where: str) -> CaFile:
    """The CAs in a CA file's text (`where` names it in errors, which never quote it)."""
    body = _mapping(inputs.parse_yaml(text, where, secret=True), where)
    trusted_until = "previousTrustedUntil"
    return CaFile(
        current=_source(body, where),
        next=_nested_source(body, "next", where),
        previous=_nested_source(body, "previous", where),
        previous_trusted_until=_time(body, trusted_until, where) if trusted_until in body else None,
    )


def _nested_source(body: dict[str, Any], key: str, where: str) -> CaSource | None:
    if key not in body:
        return None
    inner = f"{where}: {key}"
    return _source(_mapping(body[key], inner), inner)


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        found = f"mode {mode:04o}: others may read it"
        fix = f"chmod 600 {path}, and rotate the CA if anyone else could have read it"
        raise MeshValidationError(
            [Problem(str(path), "ca-file-exposed", "mode 0600 (only its owner)", found, fix)]
        )


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(where, "", f"a {type(value).__name__}, not a mapping")
    return value


def _source(body: dict[str, Any], where: str) -> CaSource:
    if "certificate" in body:
        certificate, key = _text(body, "certificate", where), _text(body, "key", where)
        return ImportedCa(certificate.encode(), key.encode())
    return SeededCa(_seed(body, where), _time(body, "notBefore", where))


def _seed(body: dict[str, Any], where: str) -> bytes:
    text = _text(body, "seed", where)
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise _wrong(where, "seed", "text that is not hexadecimal") from None
    if len(seed) < SEED_BYTES:
        raise _wrong(where, "seed", f"{len(seed)} bytes, fewer than {SEED_BYTES}")
    return seed


def _text(body: dict[str, Any], key: str, where: str) -> str:
    if key not in body:
        raise _wrong(where, key, "no such key")
    value = body[key]
    if isinstance(value, datetime):  # an unquoted timestamp
        return value.isoformat()
    if not isinstance(value, str):
        raise _wrong(where, key, f"{type(value).__name__}, not text: write it in quotes")
    return value


def _time(body: dict[str, Any], key: str, where: str) -> datetime:
    text = _text(body, key, where)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _wrong(where, key, "text that is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise _wrong(where, key, "a time without a zone: end it with Z or +00:00")
    if not _EARLIEST <= value <= _LATEST:
        raise _wrong(where, key, f"the year {value.year}, outside {_EARLIEST.year}..{_LATEST.year}")
    return value


def _wrong(where: str, key: str, found: str) -> MeshValidationError:
    """A problem with one field, named but never quoted."""
    fix = "restore the file from your secret store, or pass --new-ca with a new path"
    path = f"{where}: {key}" if key else where
    return MeshValidationError([Problem(path, "ca-file-invalid", _EXPECTED, found, fix)])
