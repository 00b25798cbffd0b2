"""A CA file is checked before it is trusted: who may read it, and every field, by name, without
quoting it. An imported CA key must be strong enough to be worth trusting."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pki import ca_file
from mesh_components.pki.imported import load_ca
from tests.foreign_ca import self_signed_ca

SEED = "ab" * 32
START = "2026-01-01T00:00:00+00:00"


def _write(tmp_path: Path, body: object, mode: int = 0o600) -> Path:
    path = tmp_path / "ca.secret.yaml"
    path.write_text(yaml.safe_dump(body))
    path.chmod(mode)
    return path


def _problem(path: Path) -> Problem:
    with pytest.raises(MeshValidationError) as raised:
        ca_file.load(path)
    (problem,) = raised.value.problems
    return problem


def test_a_good_file_loads(tmp_path: Path) -> None:
    state = ca_file.load(_write(tmp_path, {"seed": SEED, "notBefore": START}))
    assert state.current == ca_file.SeededCa(bytes.fromhex(SEED), datetime.fromisoformat(START))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_others_may_read_is_refused_with_the_chmod_fix(tmp_path: Path, mode: int) -> None:
    problem = _problem(_write(tmp_path, {"seed": SEED, "notBefore": START}, mode))
    assert problem.code == "ca-file-exposed"
    assert f"mode {mode:04o}" in problem.found and problem.fix.startswith("chmod 600 ")


@pytest.mark.parametrize(
    ("body", "path", "found"),
    [
        ({"seed": "ab" * 8, "notBefore": START}, "seed", "8 bytes, fewer than 32"),
        ({"seed": "zz" * 32, "notBefore": START}, "seed", "text that is not hexadecimal"),
        ({"seed": SEED}, "notBefore", "no such key"),
        ({"seed": SEED, "notBefore": "soon"}, "notBefore", "text that is not an ISO 8601 time"),
        ({"seed": SEED, "notBefore": "2026-01-01T00:00:00"}, "notBefore", "a time without a zone"),
        ({"seed": SEED, "notBefore": "9999-12-31T00:00:00+00:00"}, "notBefore", "the year 9999"),
        ({"seed": 12, "notBefore": START}, "seed", "int, not text"),
        ({"seed": SEED, "notBefore": START, "next": "x"}, "next", "a str, not a mapping"),
        ([1, 2], "", "a list, not a mapping"),
    ],
)
def test_each_bad_field_is_named_and_never_quoted(
    tmp_path: Path, body: object, path: str, found: str
) -> None:
    file = _write(tmp_path, body)
    problem = _problem(file)
    assert problem.code == "ca-file-invalid"
    assert problem.path == (f"{file}: {path}" if path else str(file))
    assert found in problem.found
    assert SEED not in str(problem) and "ab" * 8 not in str(problem)


@pytest.mark.parametrize(
    ("key", "found"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=1024), "RSA key of 1024 bits"),
        (ec.generate_private_key(ec.SECP192R1()), "EC key on secp192r1"),
    ],
    ids=["rsa-1024", "p-192"],
)
def test_an_imported_ca_with_a_weak_key_is_refused(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, found: str
) -> None:
    with pytest.raises(MeshValidationError) as raised:
        load_ca(*self_signed_ca(key))
    (problem,) = raised.value.problems
    assert (problem.code, problem.found) == ("ca-key-too-weak", f"an {found}")


def test_an_imported_ca_on_p256_is_accepted() -> None:
    certificate, _ = load_ca(*self_signed_ca(ec.generate_private_key(ec.SECP256R1())))
    assert certificate.subject.rfc4514_string() == "CN=ca"
