"""mesh_components: a service mesh with no control plane, compiled ahead of time into Envoy config.

The public surface is re-exported here; every other module is an implementation detail.

    spec = read_spec("examples/bookstore")   # or build a MeshSpec in Python
    mesh = build(spec)                       # validate, compile, emit; or MeshValidationError
    for workload in mesh.workloads:
        workload.envoy.files()               # {file name: YAML} for the sidecar's config volume
"""

from mesh_components.errors import MeshError, MeshValidationError, Problem
from mesh_components.model import (
    AccessMode,
    AccessPolicy,
    ContainerPort,
    HeaderMatch,
    HttpRule,
    Identity,
    LogLevel,
    MeshSettings,
    MeshSpec,
    MtlsMode,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
    Probe,
    ProbeAction,
    ProbeKind,
    Protocol,
    ProxyPorts,
    ProxySettings,
    Service,
    ServicePort,
    ServiceRef,
    SplitBackend,
    TrafficSplit,
    Workload,
    WorkloadKind,
    WorkloadRef,
    labels,
)
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.build import CompiledMesh, CompiledWorkload, build
from mesh_components.pipeline.specfile import read_spec
from mesh_components.validate import find_problems, validate

__all__ = [
    "AccessMode",
    "AccessPolicy",
    "CompiledMesh",
    "CompiledWorkload",
    "ContainerPort",
    "HeaderMatch",
    "HttpRule",
    "Identity",
    "LogLevel",
    "MeshError",
    "MeshSettings",
    "MeshSpec",
    "MeshValidationError",
    "MtlsMode",
    "PathMatch",
    "PathMatchKind",
    "PolicyDestination",
    "Probe",
    "ProbeAction",
    "ProbeKind",
    "Problem",
    "Protocol",
    "ProxyPorts",
    "ProxySettings",
    "Service",
    "ServicePort",
    "ServiceRef",
    "SplitBackend",
    "TrafficSplit",
    "Workload",
    "WorkloadKind",
    "WorkloadRef",
    "build",
    "find_problems",
    "labels",
    "load_spec",
    "read_spec",
    "validate",
]
