"""Checks of `mesh.certificates`: lifetimes, the renewal window, and the cert-manager issuer.

A renewal window as long as the validity would re-issue on every run; a cert-manager mode with
no issuer would render Certificates nothing signs, and an issuer given to the built-in CA would
be silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_components.errors import Problem
from mesh_components.model import CertificateIssuer, MeshSpec
from mesh_components.validate._common import Check, invalid_name

_PATH = "mesh.certificates"
_MIN_HOURS = 1  # cert-manager refuses anything shorter
_MAX_HOURS = 10 * 365 * 24  # the built-in CA's own validity: no leaf outlives it


def lifetimes(spec: MeshSpec) -> Iterator[Problem]:
    given = spec.settings.certificates
    for key, hours in (
        ("validityHours", given.validity_hours),
        ("renewBeforeHours", given.renew_before_hours),
    ):
        if not _MIN_HOURS <= hours <= _MAX_HOURS:
            fix = f"set {_PATH}.{key} to a whole number of hours from {_MIN_HOURS} to {_MAX_HOURS}"
            path, expected = f"{_PATH}.{key}", f"{_MIN_HOURS} to {_MAX_HOURS} hours"
            yield Problem(path, "certificates-duration-invalid", expected, str(hours), fix)


def renewal_window(spec: MeshSpec) -> Iterator[Problem]:
    given = spec.settings.certificates
    if given.renew_before_hours < given.validity_hours or given.renew_before_hours < _MIN_HOURS:
        return
    third = max(given.validity_hours // 3, _MIN_HOURS)
    yield Problem(
        f"{_PATH}.renewBeforeHours",
        "certificates-renewal-window-too-long",
        f"fewer hours than validityHours ({given.validity_hours})",
        str(given.renew_before_hours),
        f"renew in the last third of the validity, e.g. renewBeforeHours: {third}",
    )


def issuer_ref(spec: MeshSpec) -> Iterator[Problem]:
    given = spec.settings.certificates
    path = f"{_PATH}.issuerRef"
    if given.issuer is CertificateIssuer.CERT_MANAGER and given.issuer_ref is None:
        expected = "the cert-manager Issuer or ClusterIssuer that signs mesh certificates"
        fix = f"add {path}: {{name: <issuer>, kind: ClusterIssuer}}"
        yield Problem(path, "certificates-issuer-ref-missing", expected, "nothing", fix)
    if given.issuer is CertificateIssuer.BUILTIN and given.issuer_ref is not None:
        expected = "no issuerRef: the built-in CA signs the certificates"
        fix = f"set {_PATH}.issuer: cert-manager to use it, or remove {path}"
        found = f"issuerRef {given.issuer_ref.name!r}"
        yield Problem(path, "certificates-issuer-ref-unused", expected, found, fix)
    if given.issuer_ref is not None:
        yield from invalid_name(f"{path}.name", given.issuer_ref.name, subdomain=True)
        yield from invalid_name(f"{path}.group", given.issuer_ref.group, subdomain=True)


CODES = (
    "certificates-duration-invalid",
    "certificates-issuer-ref-missing",
    "certificates-issuer-ref-unused",
    "certificates-renewal-window-too-long",
)

CHECKS: tuple[Check, ...] = (lifetimes, renewal_window, issuer_ref)
