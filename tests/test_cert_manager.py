"""cert-manager mode: one schema-valid Certificate per identity, whose Secret the sidecar mounts,
and no private key anywhere in the render."""

from __future__ import annotations

import base64
import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cryptography import x509

from mesh_components import names, read_spec
from mesh_components.cli import main
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.model import (
    CertificateIssuer,
    CertificateSettings,
    CertManagerIssuer,
    IssuerKind,
    KeyType,
    MeshSpec,
)
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.render import render
from tests.test_render import make_ca

BOOKSTORE = Path(__file__).parents[1] / "examples" / "bookstore"
CRD = Path(__file__).parent / "schemas" / "cert-manager.io_certificates.yaml"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
ISSUER = CertManagerIssuer("mesh-ca", IssuerKind.ISSUER)


def cert_manager_spec(**changes: Any) -> MeshSpec:
    spec = read_spec(BOOKSTORE)
    certificates = CertificateSettings(
        issuer=CertificateIssuer.CERT_MANAGER, issuer_ref=ISSUER, **changes
    )
    settings = dataclasses.replace(spec.settings, certificates=certificates)
    return dataclasses.replace(spec, settings=settings)


def strict(schema: Any) -> Any:
    """The CRD's structural schema as JSON Schema that refuses unknown fields, as a strict
    `kubectl apply` does (the API server would prune them silently)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: strict(value) for key, value in schema.items()}
    if "properties" in found and not found.get("x-kubernetes-preserve-unknown-fields"):
        found.setdefault("additionalProperties", False)
    return found


def certificate_schema() -> Any:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return strict(version["schema"]["openAPIV3Schema"])


SCHEMA = certificate_schema()


def schema_errors(obj: Json) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]


def objects_of(kind: str, objects: tuple[Json, ...]) -> list[Json]:
    return [o for o in objects if o["kind"] == kind]


def test_every_identity_gets_one_schema_valid_certificate_and_no_secret() -> None:
    objects = render(cert_manager_spec(), None, NOW).objects
    certificates = objects_of("Certificate", objects)
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objects_of("ServiceAccount", objects)
    }
    assert {
        (c["metadata"]["namespace"], c["spec"]["uris"][0].rsplit("/", 1)[1]) for c in certificates
    } == accounts
    assert objects_of("Secret", objects) == []
    for certificate in certificates:
        assert schema_errors(certificate) == [], certificate["metadata"]["name"]


def test_the_schema_check_catches_a_misspelled_or_mistyped_field() -> None:
    (certificate, *_) = objects_of("Certificate", render(cert_manager_spec(), None, NOW).objects)
    misspelled = copy.deepcopy(certificate)
    misspelled["spec"]["renewBefor"] = misspelled["spec"].pop("renewBefore")
    mistyped = copy.deepcopy(certificate)
    mistyped["spec"]["privateKey"]["size"] = "256"
    assert schema_errors(misspelled) and schema_errors(mistyped)


def test_a_certificate_carries_the_built_in_cas_sans_usages_and_lifetimes() -> None:
    spec = cert_manager_spec(validity_hours=48, renew_before_hours=16, key_type=KeyType.RSA_3072)
    certificates = objects_of("Certificate", render(spec, None, NOW).objects)
    (bookstore,) = [c for c in certificates if c["metadata"]["name"] == "bookstore-mesh-identity"]
    assert bookstore["spec"] == {
        "secretName": "bookstore-mesh-identity",
        "secretTemplate": {"labels": bookstore["metadata"]["labels"]},
        "duration": "48h",
        "renewBefore": "16h",
        "uris": ["spiffe://cluster.local/ns/bookstore/sa/bookstore"],
        "dnsNames": ["bookstore.bookstore.cluster.local"],
        "privateKey": {
            "algorithm": "RSA",
            "size": 3072,
            "encoding": "PKCS8",
            "rotationPolicy": "Always",
        },
        "usages": ["digital signature", "key encipherment", "server auth", "client auth"],
        "issuerRef": {"name": "mesh-ca", "kind": "Issuer", "group": "cert-manager.io"},
    }


def test_every_sidecar_mounts_the_secret_its_certificate_produces() -> None:
    objects = render(cert_manager_spec(), None, NOW).objects
    produced = {
        (c["metadata"]["namespace"], c["spec"]["secretName"])
        for c in objects_of("Certificate", objects)
    }
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        account = pod["serviceAccountName"]
        mounted = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
        assert mounted == [names.identity_secret(account)]
        assert (workload["metadata"]["namespace"], mounted[0]) in produced


def test_the_other_objects_stay_schema_valid_kubernetes() -> None:
    for obj in render(cert_manager_spec(), None, NOW).objects:
        if obj["kind"] != "Certificate":
            kubernetes_validate.validate(obj, "1.31", strict=True)


def test_nothing_rendered_holds_a_private_key() -> None:
    text = yaml.safe_dump_all(render(cert_manager_spec(), None, NOW).objects)
    assert "PRIVATE KEY" not in text


def test_the_built_in_mode_still_needs_a_ca() -> None:
    with pytest.raises(MeshValidationError) as error:
        render(read_spec(BOOKSTORE), None, NOW)
    assert error.value.codes == ("ca-missing",)


def test_the_built_in_ca_follows_the_declared_lifetimes() -> None:
    spec = read_spec(BOOKSTORE)
    certificates = CertificateSettings(validity_hours=48, renew_before_hours=16)
    spec = dataclasses.replace(
        spec, settings=dataclasses.replace(spec.settings, certificates=certificates)
    )

    secret = next(o for o in render(spec, make_ca(), NOW).objects if o["kind"] == "Secret")
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=48)
    assert leaf.not_valid_before_utc <= NOW < leaf.not_valid_before_utc + timedelta(hours=32)


def test_the_spec_format_reads_the_certificates_section() -> None:
    raw = yaml.safe_load((BOOKSTORE / "mesh.yaml").read_text())
    raw["mesh"]["certificates"] = {
        "issuer": "cert-manager",
        "validityHours": 24,
        "renewBeforeHours": 8,
        "keyType": "rsa-2048",
        "issuerRef": {"name": "mesh-ca", "kind": "Issuer"},
    }
    assert load_spec(raw).settings.certificates == CertificateSettings(
        CertificateIssuer.CERT_MANAGER,
        24,
        8,
        KeyType.RSA_2048,
        CertManagerIssuer("mesh-ca", IssuerKind.ISSUER),
    )
    raw["mesh"]["certificates"] = {"keyType": "ed25519", "issuerRef": {"kind": "Issuer"}}
    with pytest.raises(MeshValidationError) as error:
        load_spec(raw)
    assert {p.path for p in error.value.problems} == {
        "mesh.certificates.keyType",
        "mesh.certificates.issuerRef.name",
    }


def test_render_in_cert_manager_mode_needs_no_ca_file(tmp_path: Path) -> None:
    raw = yaml.safe_load((BOOKSTORE / "mesh.yaml").read_text())
    raw["mesh"]["certificates"] = {"issuer": "cert-manager", "issuerRef": {"name": "mesh-ca"}}
    spec = tmp_path / "mesh.yaml"
    spec.write_text(yaml.safe_dump(raw))
    assert main(["render", str(spec), "-o", str(tmp_path / "out")]) == 0
    assert list((tmp_path / "out").rglob("*-certificate-*.yaml"))
    assert not list((tmp_path / "out").rglob("*-secret-*.yaml"))
    assert main(["render", str(BOOKSTORE), "-o", str(tmp_path / "b")]) == 2
