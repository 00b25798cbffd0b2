"""Where each identity's certificate comes from: a Secret the built-in CA signs at render time,
or a cert-manager Certificate that makes the same Secret in the cluster.

Either way the sidecar mounts the Secret `<sa>-mesh-identity` with `tls.crt`, `tls.key` and
`ca.crt`, so nothing else in the mesh depends on the choice. Ingress identities (controllers
outside the mesh that connect with mTLS) get the same Secret in their own namespace to mount.
"""

from __future__ import annotations

from datetime import datetime

from mesh_components.emit.kubernetes.cert_manager import identity_certificate
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.secrets import identity_secret
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import CertificateIssuer, Identity, MeshSettings, MeshSpec
from mesh_components.pki import CertificatePolicy, MeshCA, MeshTrust

Authority = MeshCA | MeshTrust
"""The built-in CA alone, or with the CA rolling in or out beside it."""


def needs_authority(settings: MeshSettings) -> bool:
    """Whether rendering this mesh signs certificates itself (and so needs the CA)."""
    return settings.certificates.issuer is CertificateIssuer.BUILTIN


def issuing_trust(settings: MeshSettings, authority: Authority | None) -> MeshTrust | None:
    """The built-in CA with the spec's certificate policy, or None in cert-manager mode."""
    if not needs_authority(settings):
        return None
    if authority is None:
        fix = "pass the mesh's CA (--ca-file), or set mesh.certificates.issuer: cert-manager"
        problem = Problem("ca", "ca-missing", "the mesh CA that signs identities", "none", fix)
        raise MeshValidationError([problem])
    trust = authority if isinstance(authority, MeshTrust) else MeshTrust(issuer=authority)
    return trust.with_policy(CertificatePolicy.of(settings.certificates))


def identity_object(
    settings: MeshSettings, identity: Identity, trust: MeshTrust | None, now: datetime
) -> Json:
    """The object that provides `identity`'s Secret: the Secret itself, or its Certificate."""
    if trust is None:
        certificates = settings.certificates
        return identity_certificate(settings.name, identity, settings.trust_domain, certificates)
    return identity_secret(settings.name, identity, trust.issue(identity, now).files())


def certified_identities(spec: MeshSpec) -> tuple[Identity, ...]:
    """Every identity the mesh issues a certificate to: its workloads' and its ingress
    sources', sorted."""
    workloads = {w.identity for w in spec.workloads}
    ingress = {s for i in spec.ingress for s in i.sources.identities}
    return tuple(sorted(workloads | ingress))
