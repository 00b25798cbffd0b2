"""Secrets (the identity certificate and the mesh CA) and the TLS contexts that use them.

Each secret is a file-based SDS resource that watches the certificate volume, so a rotated
certificate is picked up without a restart. TLS contexts reference secrets by name, through a
file-based SDS subscription (one file per secret: file-based SDS holds exactly one resource).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.compiler.plan import Upstream
from mesh_components.emit.envoy.types import DOWNSTREAM_TLS, UPSTREAM_TLS, Json
from mesh_components.names import VolumePaths


def identity_cert(paths: VolumePaths) -> Json:
    """This workload's certificate and key, from the certificate volume."""
    return {
        "name": names.IDENTITY_CERT_SECRET,
        "tls_certificate": {
            "certificate_chain": {"filename": paths.cert_file(names.CERT_CHAIN_FILE)},
            "private_key": {"filename": paths.cert_file(names.PRIVATE_KEY_FILE)},
            "watched_directory": {"path": paths.certs_dir},
        },
    }


def mesh_ca(paths: VolumePaths) -> Json:
    """The mesh CA bundle that every peer certificate must chain to."""
    return {
        "name": names.MESH_CA_SECRET,
        "validation_context": {
            "trusted_ca": {"filename": paths.cert_file(names.CA_BUNDLE_FILE)},
            "watched_directory": {"path": paths.certs_dir},
        },
    }


def secrets(paths: VolumePaths) -> tuple[Json, ...]:
    return (identity_cert(paths), mesh_ca(paths))


def sds_ref(secret: str, paths: VolumePaths) -> Json:
    """A secret by name, from its SDS file. The watched directory is the volume root, so the
    kubelet's `..data` swap is seen (an in-place edit never is)."""
    source = {
        "path": paths.config_file(names.SDS_FILES[secret]),
        "watched_directory": {"path": paths.config_dir},
    }
    return {
        "name": secret,
        "sds_config": {"path_config_source": source, "resource_api_version": "V3"},
    }


def _common_tls_context(san_matchers: list[Json], paths: VolumePaths) -> Json:
    """Present our identity; accept peers that chain to the mesh CA and match `san_matchers`."""
    return {
        "tls_certificate_sds_secret_configs": [sds_ref(names.IDENTITY_CERT_SECRET, paths)],
        "combined_validation_context": {
            "default_validation_context": {"match_typed_subject_alt_names": san_matchers},
            "validation_context_sds_secret_config": sds_ref(names.MESH_CA_SECRET, paths),
        },
    }


def _uri_san(**matcher: str) -> Json:
    return {"san_type": "URI", "matcher": matcher}


def downstream_tls(
    trust_domain: str, paths: VolumePaths, allowed: tuple[str, ...] | None = None
) -> Json:
    """Inbound mTLS: a client certificate of the trust domain, or, given `allowed`, only of
    those identities.

    HTTP keeps authentication (here) apart from authorization (RBAC), so a denied client gets
    a readable 403. TCP cannot: tcp_proxy connects to the app at once and RBAC only judges the
    client's first byte, so a denied client would read a server-first app's banner (MySQL).
    TCP ports therefore refuse unlisted identities in the handshake.
    """
    if allowed is None:
        matchers = [_uri_san(prefix=f"spiffe://{trust_domain}/")]
    else:
        matchers = [_uri_san(exact=identity) for identity in allowed]
    context = {
        "require_client_certificate": True,
        "common_tls_context": _common_tls_context(matchers, paths),
    }
    return DOWNSTREAM_TLS.config(**context)


def upstream_tls(upstream: Upstream, paths: VolumePaths) -> Json:
    """Outbound mTLS: send the service's SNI, accept only the identities behind it."""
    matchers = [_uri_san(exact=identity) for identity in upstream.peer_identities]
    context = {"sni": upstream.sni, "common_tls_context": _common_tls_context(matchers, paths)}
    return UPSTREAM_TLS.config(**context)
