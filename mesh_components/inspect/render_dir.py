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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

from mesh_components import inputs, names
from mesh_components.emit.envoy.types import Json
from mesh_components.inspect import objects
from mesh_components.inspect.model import Certificate, InspectedMesh, Proxy
from mesh_components.model import WorkloadRef
from mesh_components.validate._common import is_dns_label, is_dns_subdomain

_PROXY_CONFIG_MARK = "-mesh-proxy"
_NODE_ID_RULE = f"NAMESPACE/NAME: {objects.NAMESPACE_RULE}, '/', {objects.NAME_RULE}"
_NODE_CLUSTER_RULE = f"ACCOUNT.NAMESPACE: {objects.NAME_RULE}, '.', {objects.NAMESPACE_RULE}"


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
    """Every mapping in the directory's YAML files, walked without following links."""
    for file in inputs.files_under(path, (".yaml",)):
        yield from (doc for doc in inputs.read_yaml_all(file) if isinstance(doc, dict))


def _proxy_config_maps(documents: Iterable[Json]) -> Iterator[Json]:
    for document in documents:
        if document.get("kind") != "ConfigMap":
            continue
        name = objects.metadata(document).get("name")
        if (
            isinstance(name, str)
            and _PROXY_CONFIG_MARK in name
            and names.LDS_FILE in objects.data(document)
        ):
            yield document


def _proxy(
    config_map: Json, documents: list[Json], certificates: dict[tuple[str, str], Certificate]
) -> Proxy:
    where = objects.where(config_map)
    data = objects.data(config_map)
    bootstrap = _parse(data.get(names.BOOTSTRAP_FILE, "{}"), f"{where}.{names.BOOTSTRAP_FILE}")
    workload, account_namespace, account = _node(bootstrap, f"{where}.{names.BOOTSTRAP_FILE}")
    certificate = _identity_certificate(certificates, account_namespace, account)
    return Proxy(
        workload=workload,
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


def _node(bootstrap: Json, where: str) -> tuple[WorkloadRef, str, str]:
    """The workload (`node.id`: `namespace/name`) and the namespace and name of its
    ServiceAccount (`node.cluster`: `account.namespace`) that a bootstrap names. Both are
    drawn and printed, so both are checked as Kubernetes names."""
    node = bootstrap.get("node")
    if not isinstance(node, dict):
        found = "no node" if node is None else f"a {type(node).__name__}"
        raise objects.problem(f"{where}: node", "a mapping with `id` and `cluster`", found)
    given_id, given_cluster = node.get("id"), node.get("cluster")
    namespace, _, name = (given_id if isinstance(given_id, str) else "").partition("/")
    account, _, account_namespace = (
        given_cluster if isinstance(given_cluster, str) else ""
    ).rpartition(".")
    if not (is_dns_label(namespace) and is_dns_subdomain(name)):
        raise objects.invalid_name(f"{where}: node.id", _NODE_ID_RULE, given_id)
    if not (is_dns_subdomain(account) and is_dns_label(account_namespace)):
        raise objects.invalid_name(f"{where}: node.cluster", _NODE_CLUSTER_RULE, given_cluster)
    return WorkloadRef(namespace, name), account_namespace, account


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


def _resources(data: Json, file: str, where: str) -> tuple[Json, ...]:
    """A DiscoveryResponse's resources, without their `@type`."""
    document = _parse(data.get(file, "{}"), f"{where}.{file}")
    resources = document.get("resources") or []
    if not isinstance(resources, list) or not all(_is_resource(r) for r in resources):
        expected = "a list of Envoy resources, each a mapping with a `name`"
        found = f"a {type(resources).__name__}" + (
            " holding something else" if isinstance(resources, list) else ""
        )
        raise objects.problem(f"{where}.{file}: resources", expected, found)
    return tuple({k: v for k, v in r.items() if k != "@type"} for r in resources)


def _is_resource(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("name"), str)


def _parse(text: object, where: str) -> Json:
    if not isinstance(text, str):
        raise objects.problem(where, "YAML text", f"a {type(text).__name__}")
    document = inputs.parse_yaml(text, where)
    if not isinstance(document, dict):
        raise objects.problem(where, "a mapping", type(document).__name__)
    return document


def _spiffe_id(
    certificate: Certificate | None, documents: list[Json], namespace: str, account: str
) -> str:
    """The certificate's URI SAN; in cert-manager mode the Certificate's `uris`."""
    uris = [san for san in certificate.sans if san.startswith("spiffe://")] if certificate else []
    if not uris:
        secret = names.identity_secret(account)
        for document in documents:
            if document.get("kind") != "Certificate":
                continue
            meta = objects.metadata(document)
            if (meta.get("namespace"), meta.get("name")) == (namespace, secret):
                uris = _certificate_uris(document)
    if not uris:
        raise objects.problem(
            f"ServiceAccount[{namespace}/{account}]",
            "its identity Secret or Certificate",
            "neither",
            "inspect the whole render directory, not a part of it",
        )
    return uris[0]


def _certificate_uris(document: Json) -> list[str]:
    """A cert-manager Certificate's `spec.uris`."""
    spec = document.get("spec") or {}
    uris = spec.get("uris") if isinstance(spec, dict) else None
    if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
        path = f"{objects.where(document)}.spec.uris"
        raise objects.problem(path, "a list of URIs", objects.shown(uris))
    return uris


def _certificates(documents: list[Json]) -> dict[tuple[str, str], Certificate]:
    found = {}
    for document in documents:
        pem = _secret_file(document, names.CERT_CHAIN_FILE)
        if pem is not None:
            namespace, name = objects.reference(document)
            found[(namespace, name)] = _certificate(f"{namespace}/{name}", pem)
    return found


def _ca_bundles(documents: list[Json]) -> Iterator[bytes]:
    for document in documents:
        pem = _secret_file(document, names.CA_BUNDLE_FILE)
        if pem is not None:
            yield pem


def _secret_file(document: Json, key: str) -> bytes | None:
    data = objects.data(document) if document.get("kind") == "Secret" else {}
    if key not in data:
        return None
    pem = _base64(data[key])
    if pem is None:
        path = f"{objects.where(document)}.data.{key}"
        raise objects.problem(path, "base64 PEM", "something else", "render the Secret again")
    return pem


def _base64(value: object) -> bytes | None:
    """`value` decoded, or None when it is no base64 text."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _certificate(secret: str, pem: bytes) -> Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem)
        sans = _sans(cert)  # cryptography parses the extensions here, and raises ValueError
    except ValueError:
        raise objects.problem(
            f"Secret[{secret}]", "a PEM certificate", "something else", "render the Secret again"
        ) from None
    return Certificate(
        secret=secret,
        sans=sans,
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
