"""`certs status`: one line per identity certificate in rendered manifests, for cron and CI.

A certificate inside its renewal window (the last third of its life by default) or expired
makes the command fail, so a scheduled job notices before an outage does.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from mesh_components import inputs, names
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect import objects
from mesh_components.pki import CertificatePolicy

DEFAULT_WINDOW = CertificatePolicy().renewal_window


class Health(enum.StrEnum):
    """Where a certificate stands at a given instant."""

    OK = "ok"
    RENEW = "renew"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """One identity Secret's certificate, as `certs status` reports it."""

    secret: str
    subject: str
    sans: tuple[str, ...]
    serial: int
    not_before: datetime
    not_after: datetime
    health: Health
    days_left: float

    def line(self) -> str:
        window = f"{self.not_before:%Y-%m-%d} .. {self.not_after:%Y-%m-%d}"
        return (
            f"{self.health.value:<7} {self.secret}  {self.subject or '(empty subject)'}  "
            f"SANs {', '.join(self.sans)}  serial {self.serial:x}  {window}  "
            f"{self.days_left:.1f} days left"
        )


def statuses(secrets: Iterable[Json], now: datetime, window: timedelta) -> list[CertificateStatus]:
    """The status of every identity Secret's certificate at `now`, sorted by Secret."""
    found = [_status(secret, now, window) for secret in secrets]
    return sorted(found, key=lambda status: status.secret)


def identity_secrets(path: Path) -> Iterator[Json]:
    """The mesh's identity Secrets in a render directory (walked without following links) or
    a YAML file of manifests."""
    files = inputs.files_under(path, (".yaml",)) if path.is_dir() else [path]
    for file in files:
        for document in inputs.read_yaml_all(file):
            if _is_identity_secret(document):
                yield document


def _is_identity_secret(document: object) -> bool:
    if not isinstance(document, dict) or document.get("kind") != "Secret":
        return False
    labels = objects.labels(document)
    return labels.get("app.kubernetes.io/component") == "identity" and names.MESH_LABEL in labels


@dataclass(frozen=True, slots=True)
class _Read:
    """What a status shows of a certificate, read at once: cryptography parses the subject and
    the extensions only when asked, and raises ValueError for a malformed one then."""

    certificate: x509.Certificate
    subject: str
    sans: tuple[str, ...]


def _certificate(secret: Json, where: str) -> _Read:
    try:
        pem = base64.b64decode(secret["data"][names.CERT_CHAIN_FILE], validate=True)
        certificate = x509.load_pem_x509_certificate(pem)
        return _Read(certificate, certificate.subject.rfc4514_string(), _sans(certificate))
    except (KeyError, TypeError, ValueError, binascii.Error):
        path = f"Secret[{where}].data.{names.CERT_CHAIN_FILE}"
        fix = "render the Secret again from the mesh's CA file"
        problem = Problem(
            path, "certificate-unreadable", "a base64 PEM certificate", "something else", fix
        )
        raise MeshValidationError([problem]) from None


def _status(secret: Json, now: datetime, window: timedelta) -> CertificateStatus:
    namespace, name = objects.reference(secret)
    read = _certificate(secret, f"{namespace}/{name}")
    cert = read.certificate
    not_after = cert.not_valid_after_utc
    health = (
        Health.EXPIRED
        if now >= not_after
        else Health.RENEW
        if now >= not_after - window
        else Health.OK
    )
    return CertificateStatus(
        secret=f"{namespace}/{name}",
        subject=read.subject,
        sans=read.sans,
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        health=health,
        days_left=(not_after - now).total_seconds() / 86400,
    )


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    uris = extension.get_values_for_type(x509.UniformResourceIdentifier)
    return (*uris, *extension.get_values_for_type(x509.DNSName))
