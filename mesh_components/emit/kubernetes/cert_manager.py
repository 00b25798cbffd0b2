"""cert-manager mode: one `Certificate` per identity instead of a Secret the mesh signs itself.

cert-manager writes the Secret the sidecar already mounts (`<sa>-mesh-identity`, with `tls.crt`,
`tls.key` and `ca.crt`), renews it `renewBefore` its expiry with a new key, and the sidecar's
SDS file watch picks the new files up with no restart. The issuer must fill `ca.crt` (the CA and
Vault issuers do; ACME issuers cannot sign SPIFFE identities anyway).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import CertificateSettings, Identity, KeyType

API_VERSION = "cert-manager.io/v1"

_PRIVATE_KEYS: dict[KeyType, Json] = {
    KeyType.ECDSA_P256: {"algorithm": "ECDSA", "size": 256},
    KeyType.RSA_2048: {"algorithm": "RSA", "size": 2048},
    KeyType.RSA_3072: {"algorithm": "RSA", "size": 3072},
}


def identity_certificate(
    mesh: str, identity: Identity, trust_domain: str, settings: CertificateSettings
) -> Json:
    """The Certificate whose Secret every pod of `identity` mounts; same SANs as the built-in CA."""
    if settings.issuer_ref is None:
        raise ValueError("cert-manager mode needs an issuerRef (validation reports this first)")
    name = names.identity_secret(identity.service_account)
    labels = mesh_labels(mesh, "identity", identity.service_account)
    ref = settings.issuer_ref
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": metadata(name, identity.namespace, labels),
        "spec": {
            "secretName": name,
            "secretTemplate": {"labels": dict(sorted(labels.items()))},
            "duration": f"{settings.validity_hours}h",
            "renewBefore": f"{settings.renew_before_hours}h",
            "uris": [identity.spiffe_id(trust_domain)],
            "dnsNames": [identity.dns_name(trust_domain)],
            "privateKey": {
                **_PRIVATE_KEYS[settings.key_type],
                "encoding": "PKCS8",
                "rotationPolicy": "Always",
            },
            "usages": _usages(settings.key_type),
            "issuerRef": {"name": ref.name, "kind": ref.kind.value, "group": ref.group},
        },
    }


def _usages(key_type: KeyType) -> list[str]:
    """The built-in CA's usages: key encipherment only for RSA keys, both auth EKUs."""
    usages = ["digital signature", "server auth", "client auth"]
    return [*usages[:1], "key encipherment", *usages[1:]] if key_type.is_rsa else usages
