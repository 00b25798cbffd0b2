"""The mesh PKI: a deterministic CA and one short-lived certificate per identity, and the CA
file that keeps a mesh's CA between runs and through a rollover (`ca_file`, `ca_rotation`).

Pure but for `ca_file`, which reads and writes that file and draws a new CA's seed: no I/O, no
clock (callers pass `now`), no randomness. The same seed and the same `now` give byte-identical
PEMs, so `pulumi preview` shows a change only when a certificate rotates.

    ca = MeshCA.from_seed(seed, trust_domain="cluster.local", not_before=created)
    ca.issue(Identity("shop", "bookstore"), now).files()   # {tls.crt, tls.key, ca.crt}
    MeshTrust(issuer=ca, next=next_ca).issue(...)           # during a CA rollover
"""

from mesh_components.model import KeyType
from mesh_components.pki.authority import MeshCA
from mesh_components.pki.bundle import TrustBundle
from mesh_components.pki.identity import IdentityCertificate
from mesh_components.pki.policy import CertificatePolicy
from mesh_components.pki.rollover import MeshTrust, RolloverStage

__all__ = [
    "CertificatePolicy",
    "IdentityCertificate",
    "KeyType",
    "MeshCA",
    "MeshTrust",
    "RolloverStage",
    "TrustBundle",
]
