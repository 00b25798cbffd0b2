"""Egress: which destinations outside the mesh a workload's app may reach through its sidecar.

By default (`mesh.egress: deny`) nothing outside the mesh is reachable. An `EgressRule` allows
plaintext HTTP by Host, TLS by SNI, or TCP by IP range, on given ports, for the workloads of
one namespace: all of them, or those its selector and ServiceAccount pick. `passthrough` lets
every non-mesh destination through, for migrations (`EgressMode`, in `settings` beside the
other mesh-wide modes).
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.model.service import Labels
from mesh_components.model.workload import Workload

HTTP_DEFAULT_PORTS = (80,)
TLS_DEFAULT_PORTS = (443,)


@dataclass(frozen=True, slots=True)
class EgressHosts:
    """Hosts by name on some ports: the `Host` header of plaintext HTTP, or a TLS ClientHello's
    SNI. A name may start with `*.` to cover its subdomains."""

    hosts: tuple[str, ...]
    ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EgressAddresses:
    """IPv4 ranges (CIDR) on some ports, for any TCP protocol."""

    cidrs: tuple[str, ...]
    ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EgressRule:
    """Destinations outside the mesh that some workloads of `namespace` may reach.

    `selector` None and `service_account` None: every workload of the namespace. Otherwise
    the workloads whose labels include the selector and that run as the ServiceAccount.
    """

    name: str
    namespace: str
    selector: Labels | None = None
    service_account: str | None = None
    http: EgressHosts | None = None
    tls: EgressHosts | None = None
    tcp: EgressAddresses | None = None

    def applies_to(self, workload: Workload) -> bool:
        """Whether `workload` gets this rule's allowances."""
        if workload.namespace != self.namespace:
            return False
        if self.service_account is not None and workload.service_account != self.service_account:
            return False
        return self.selector is None or set(self.selector) <= set(workload.labels)
