"""The whole declaration (settings, services, workloads, splits, policies, destinations,
ingress, egress rules) as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from mesh_components.model.destination import Destination
from mesh_components.model.egress import EgressRule
from mesh_components.model.ingress import Ingress
from mesh_components.model.policy import AccessPolicy
from mesh_components.model.service import Service
from mesh_components.model.settings import MeshSettings
from mesh_components.model.split import TrafficSplit
from mesh_components.model.workload import Workload


@dataclass(frozen=True, slots=True)
class MeshSpec:
    """Everything the compiler needs. Built by the spec loader or by the Pulumi components."""

    settings: MeshSettings
    services: tuple[Service, ...] = ()
    workloads: tuple[Workload, ...] = ()
    splits: tuple[TrafficSplit, ...] = ()
    policies: tuple[AccessPolicy, ...] = ()
    destinations: tuple[Destination, ...] = ()
    ingress: tuple[Ingress, ...] = ()
    egress: tuple[EgressRule, ...] = ()
