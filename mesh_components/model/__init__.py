"""The mesh model: frozen value objects with no I/O, no Pulumi and no Envoy vocabulary."""

from mesh_components.model.mesh import MeshSpec
from mesh_components.model.policy import (
    AccessPolicy,
    HeaderMatch,
    HttpRule,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
)
from mesh_components.model.refs import Identity, ServiceRef, WorkloadRef
from mesh_components.model.service import (
    Labels,
    Protocol,
    Service,
    ServicePort,
    infer_protocol,
    labels,
)
from mesh_components.model.settings import (
    AccessMode,
    Interception,
    LogLevel,
    MeshSettings,
    MtlsMode,
    ProxyPorts,
    ProxySettings,
    Resources,
    SidecarMode,
)
from mesh_components.model.split import SplitBackend, TrafficSplit
from mesh_components.model.workload import (
    AppContainer,
    ContainerPort,
    Probe,
    ProbeAction,
    ProbeKind,
    Workload,
    WorkloadKind,
)

__all__ = [
    "AccessMode",
    "AccessPolicy",
    "AppContainer",
    "ContainerPort",
    "HeaderMatch",
    "HttpRule",
    "Identity",
    "Interception",
    "Labels",
    "LogLevel",
    "MeshSettings",
    "MeshSpec",
    "MtlsMode",
    "PathMatch",
    "PathMatchKind",
    "PolicyDestination",
    "Probe",
    "ProbeAction",
    "ProbeKind",
    "Protocol",
    "ProxyPorts",
    "ProxySettings",
    "Resources",
    "Service",
    "ServicePort",
    "ServiceRef",
    "SidecarMode",
    "SplitBackend",
    "TrafficSplit",
    "Workload",
    "WorkloadKind",
    "WorkloadRef",
    "infer_protocol",
    "labels",
]
