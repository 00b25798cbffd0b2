"""Ingress: who outside the mesh may reach a service's inbound ports, as OSM's IngressBackend.

Two kinds of source: an ingress controller's identity, which the mesh issues a certificate and
which connects with mTLS, and IP ranges, whose clients speak plaintext and are trusted by their
address alone (so the spec must say `plaintext: true`, and `anyAddress: true` for `0.0.0.0/0`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.model.policy import HttpRule
from mesh_components.model.refs import Identity, ServiceRef


@dataclass(frozen=True, slots=True)
class IngressSources:
    """The clients an ingress entry lets in. IP ranges are CIDRs as written (validation parses
    them); `plaintext` acknowledges that their traffic is neither encrypted nor authenticated,
    and `any_address` that a range covers every address."""

    identities: tuple[Identity, ...] = ()
    ip_ranges: tuple[str, ...] = ()
    plaintext: bool = False
    any_address: bool = False


@dataclass(frozen=True, slots=True)
class Ingress:
    """`sources` may reach service `namespace/service` on `ports` (service port numbers).

    With `http_rules`, only matching requests on HTTP ports are let in.
    """

    name: str
    namespace: str
    service: str
    ports: tuple[int, ...]
    sources: IngressSources
    http_rules: tuple[HttpRule, ...] = ()

    @property
    def service_ref(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.service)
