"""The per-identity Secret: certificate chain, private key and CA bundle, nothing else.

Private keys live only here (and in Pulumi secret outputs), never in a ConfigMap. The Secret is
of type kubernetes.io/tls, so tooling recognises it; `ca.crt` is an extra key Envoy's SDS reads.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import Identity

SECRET_KEYS = frozenset({names.CERT_CHAIN_FILE, names.PRIVATE_KEY_FILE, names.CA_BUNDLE_FILE})


def identity_secret(mesh: str, identity: Identity, files: Mapping[str, bytes]) -> Json:
    """The Secret every pod of `identity` mounts at the sidecar's certificate directory."""
    if set(files) != SECRET_KEYS:
        raise ValueError(
            f"an identity Secret holds exactly {sorted(SECRET_KEYS)}, got {sorted(files)}"
        )
    name = names.identity_secret(identity.service_account)
    labels = mesh_labels(mesh, "identity", identity.service_account)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": metadata(name, identity.namespace, labels),
        "data": {key: base64.b64encode(files[key]).decode() for key in sorted(files)},
    }
