"""How the PKI reports bad input: one MeshValidationError with stable codes, like the validator.

Tests assert the codes; the messages say what was expected and how to fix it.
"""

from __future__ import annotations

import datetime

from mesh_components.errors import MeshValidationError, Problem

MIN_SEED_BYTES = 32


def invalid(path: str, code: str, expected: str, found: str, fix: str = "") -> MeshValidationError:
    """The error for one problem: `raise invalid(...)`."""
    return MeshValidationError([Problem(path, code, expected, found, fix)])


def check_seed(seed: bytes) -> None:
    """A seed must be bytes with at least 256 bits, or every key derived from it is guessable."""
    if not isinstance(seed, bytes):
        found = type(seed).__name__
        raise invalid("pki.seed", "ca-seed-not-bytes", "bytes", found, "pass seed.encode()")
    if len(seed) < MIN_SEED_BYTES:
        raise invalid(
            "pki.seed",
            "ca-seed-too-short",
            f"at least {MIN_SEED_BYTES} bytes",
            f"{len(seed)} bytes",
            "pass secrets.token_bytes(32), or let `render --new-ca` write a CA file "
            "(its seed is hex: `openssl rand -hex 32`); keep it secret",
        )


def utc(value: datetime.datetime, path: str, *, whole_seconds: bool = False) -> datetime.datetime:
    """`value` in UTC. Naive times are rejected: guessing their zone would shift every window."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(path, "time-not-timezone-aware", "an aware datetime", repr(value))
    if whole_seconds and value.microsecond:
        found = value.isoformat()
        raise invalid(path, "time-not-whole-seconds", "whole seconds (X.509 has no less)", found)
    return value.astimezone(datetime.UTC)
