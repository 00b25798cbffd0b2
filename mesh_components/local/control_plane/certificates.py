"""The control plane's own PKI: one CA, the API server's serving certificate, a client certificate
per component (and for the admin and the node), and the ServiceAccount token signing key.

Fresh random keys each `local cluster up`, written mode 0600 under the cluster's state directory,
which `down` removes. This CA is the cluster's, not the mesh's: mesh identities come from the
mesh CA as on any cluster.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh_components.pki.certificates import key_usage

VALIDITY = datetime.timedelta(days=30)
API_SERVER_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost")


@dataclass(frozen=True, slots=True)
class Client:
    """Who a client certificate says it is: Kubernetes reads the user from the CN and the
    groups from O."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pki:
    """Where each file of the control plane's PKI is."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "service-account.key"

    @property
    def service_account_public(self) -> Path:
        return self.folder / "service-account.pub"

    def certificate(self, name: str) -> Path:
        return self.folder / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"


def create(folder: Path, clients: tuple[Client, ...], server_ips: tuple[str, ...]) -> Pki:
    """A new PKI in `folder`: the CA, `apiserver` serving `server_ips` and the usual names,
    each client's certificate, and the ServiceAccount signing key."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = Pki(folder)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesh-components local cluster")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(digital_signature=True, key_cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki.ca, ca.public_bytes(serialization.Encoding.PEM))
    authority = (ca, ca_key)
    _issue(pki, "apiserver", _server(server_ips), authority, now)
    for client in clients:
        _issue(pki, client.name, _client(client), authority, now)
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki.service_account_key, _private(signing))
    public = signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write(pki.service_account_public, public)
    return pki


def _issue(
    pki: Pki,
    name: str,
    leaf: tuple[x509.Name, list[x509.ExtensionType]],
    authority: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    now: datetime.datetime,
) -> None:
    subject, extensions = leaf
    ca, ca_key = authority
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(subject, ca.subject, key.public_key(), now).add_extension(
        key_usage(digital_signature=True), critical=True
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    _write(pki.key(name), _private(key))
    _write(pki.certificate(name), certificate.public_bytes(serialization.Encoding.PEM))


def _server(ips: tuple[str, ...]) -> tuple[x509.Name, list[x509.ExtensionType]]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in API_SERVER_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    return subject, [x509.SubjectAlternativeName(names), usage]


def _client(client: Client) -> tuple[x509.Name, list[x509.ExtensionType]]:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in client.groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, client.user))
    usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    return x509.Name(attributes), [usage]


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _private(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    """`data` in a file that is mode 0600 from its creation: never readable by others."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
