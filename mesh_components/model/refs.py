"""References between mesh objects: a service by namespace and name, an identity by ServiceAccount.

They are the keys the compiler joins on, so they are small, frozen and ordered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class ServiceRef:
    """A Kubernetes Service, `namespace/name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True, slots=True)
class Identity:
    """A workload identity: one Kubernetes ServiceAccount."""

    namespace: str
    service_account: str

    def spiffe_id(self, trust_domain: str) -> str:
        """The URI SAN that certificates for this identity carry."""
        return f"spiffe://{trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def dns_name(self, trust_domain: str) -> str:
        """OSM's name for an identity, `<sa>.<ns>.<trust domain>`, kept as a DNS SAN."""
        return f"{self.service_account}.{self.namespace}.{trust_domain}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service_account}"


@dataclass(frozen=True, order=True, slots=True)
class WorkloadRef:
    """A workload (the owner of a pod template), `namespace/name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
