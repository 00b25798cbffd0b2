"""Read a mesh back from a render directory: what is deployed, as operators inspect it.

Each workload's sidecar config comes from its proxy ConfigMap (`<workload>-mesh-proxy`, with a
content hash appended in rollout mode): bootstrap, LDS, CDS and SDS files. Its identity is the
URI SAN of its identity Secret's certificate (or its cert-manager Certificate's `uris`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

from mesh_components import inputs, names
from mesh_components.emit.envoy.types import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect.model import Certificate, InspectedMesh, Proxy
from mesh_components.model import WorkloadRef

_PROXY_CONFIG_MARK = "-mesh-proxy"


def is_render_dir(path: Path) -> bool:
    return path.is_dir() and any(_proxy_config_maps(_documents(path)))


def load(path: Path) -> InspectedMesh:
    mesh = from_documents(list(_documents(path)), f"render directory {path}")
    return dataclasses.replace(mesh, from_files=True)


def from_documents(documents: list[Json], source: str) -> InspectedMesh:
    """The mesh that these Kubernetes objects (a render directory's, or a recorded Pulumi
    program's) deploy."""
    certificates = _certificates(documents)
    proxies = [
        _proxy(config_map, documents, certificates) for config_map in _proxy_config_maps(documents)
    ]
    ca = sorted({_fingerprint(pem) for pem in _ca_bundles(documents)})
    return InspectedMesh(
        source=source,
        proxies=tuple(sorted(proxies, key=lambda p: p.workload)),
        ca_fingerprints=tuple(ca),
    )


def _documents(path: Path) -> Iterator[Json]:
    for file in sorted(path.rglob("*.yaml")):
        yield from (doc for doc in inputs.read_yaml_all(file) if isinstance(doc, dict))


def _proxy_config_maps(documents: Iterator[Json] | list[Json]) -> Iterator[Json]:
    for document in documents:
        name = str((document.get("metadata") or {}).get("name", ""))
        data = document.get("data") or {}
        if (
            document.get("kind") == "ConfigMap"
            and _PROXY_CONFIG_MARK in name
            and names.LDS_FILE in data
        ):
            yield document


def _proxy(
    config_map: Json, documents: list[Json], certificates: dict[tuple[str, str], Certificate]
) -> Proxy:
    where = (
        f"ConfigMap[{config_map['metadata'].get('namespace', '')}/{config_map['metadata']['name']}]"
    )
    data = config_map["data"]
    bootstrap = _parse(data.get(names.BOOTSTRAP_FILE, "{}"), f"{where}.{names.BOOTSTRAP_FILE}")
    node = bootstrap.get("node") or {}
    namespace, _, name = str(node.get("id", "")).partition("/")
    account, _, account_namespace = str(node.get("cluster", "")).rpartition(".")
    certificate = _identity_certificate(certificates, account_namespace, account)
    return Proxy(
        workload=WorkloadRef(namespace, name),
        spiffe_id=_spiffe_id(certificate, documents, account_namespace, account),
        listeners=_resources(data, names.LDS_FILE, where),
        clusters=_resources(data, names.CDS_FILE, where),
        secrets=tuple(
            r
            for file in sorted(names.SDS_FILES.values())
            if file in data
            for r in _resources(data, file, where)
        ),
        bootstrap=bootstrap,
        certificate=certificate,
    )


def _identity_certificate(
    certificates: dict[tuple[str, str], Certificate], namespace: str, account: str
) -> Certificate | None:
    """The identity Secret's certificate: `<account>-mesh-identity`, or with the content hash
    that Pulumi programs append to it (`-<hash>`: each certificate rolls out as a new Secret)."""
    name = names.identity_secret(account)
    exact = certificates.get((namespace, name))
    if exact is not None:
        return exact
    hashed = [
        certificate
        for (secret_namespace, secret), certificate in sorted(certificates.items())
        if secret_namespace == namespace and secret.startswith(f"{name}-")
    ]
    return hashed[0] if len(hashed) == 1 else None


def _resources(data: dict[str, str], file: str, where: str) -> tuple[Json, ...]:
    """A DiscoveryResponse's resources, without their `@type`."""
    document = _parse(data.get(file, "{}"), f"{where}.{file}")
    resources = document.get("resources") or []
    if not isinstance(resources, list) or not all(_is_resource(r) for r in resources):
        expected = "a list of Envoy resources, each a mapping with a `name`"
        found = f"a {type(resources).__name__}" + (
            " holding something else" if isinstance(resources, list) else ""
        )
        raise _problem(f"{where}.{file}: resources", expected, found, "render the directory again")
    return tuple({k: v for k, v in r.items() if k != "@type"} for r in resources)


def _is_resource(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("name"), str)


def _parse(text: str, where: str) -> Json:
    document = inputs.parse_yaml(text, where)
    if not isinstance(document, dict):
        raise _problem(where, "a mapping", type(document).__name__, "render the directory again")
    return document


def _spiffe_id(
    certificate: Certificate | None, documents: list[Json], namespace: str, account: str
) -> str:
    """The certificate's URI SAN; in cert-manager mode the Certificate's `uris`."""
    uris = [san for san in certificate.sans if san.startswith("spiffe://")] if certificate else []
    if not uris:
        secret = names.identity_secret(account)
        for document in documents:
            meta = document.get("metadata") or {}
            if document.get("kind") == "Certificate" and (
                meta.get("namespace"),
                meta.get("name"),
            ) == (namespace, secret):
                uris = list((document.get("spec") or {}).get("uris") or [])
    if not uris:
        raise _problem(
            f"ServiceAccount[{namespace}/{account}]",
            "its identity Secret or Certificate",
            "neither",
            "inspect the whole render directory, not a part of it",
        )
    return str(uris[0])


def _certificates(documents: list[Json]) -> dict[tuple[str, str], Certificate]:
    found = {}
    for document in documents:
        pem = _secret_file(document, names.CERT_CHAIN_FILE)
        if pem is not None:
            meta = document["metadata"]
            found[(meta.get("namespace", ""), meta["name"])] = _certificate(
                f"{meta.get('namespace', '')}/{meta['name']}", pem
            )
    return found


def _ca_bundles(documents: list[Json]) -> Iterator[bytes]:
    for document in documents:
        pem = _secret_file(document, names.CA_BUNDLE_FILE)
        if pem is not None:
            yield pem


def _secret_file(document: Json, key: str) -> bytes | None:
    if document.get("kind") != "Secret" or key not in (document.get("data") or {}):
        return None
    try:
        return base64.b64decode(document["data"][key], validate=True)
    except (binascii.Error, TypeError, ValueError):
        meta = document.get("metadata") or {}
        raise _problem(
            f"Secret[{meta.get('namespace', '')}/{meta.get('name', '')}].data.{key}",
            "base64 PEM",
            "something else",
            "render the Secret again",
        ) from None


def _certificate(secret: str, pem: bytes) -> Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _problem(
            f"Secret[{secret}]", "a PEM certificate", "something else", "render the Secret again"
        ) from None
    return Certificate(
        secret=secret,
        sans=_sans(cert),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
        fingerprint=_fingerprint(pem),
    )


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension: Any = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    uris = extension.get_values_for_type(x509.UniformResourceIdentifier)
    return (*uris, *extension.get_values_for_type(x509.DNSName))


def _fingerprint(pem: bytes) -> str:
    """SHA-256 of the PEM text, short: enough to tell two certificates apart in a diff."""
    return hashlib.sha256(pem).hexdigest()[:16]


def _problem(path: str, expected: str, found: str, fix: str) -> MeshValidationError:
    return MeshValidationError([Problem(path, "inspect-render-unreadable", expected, found, fix)])
