"""The Pulumi components: the only part of mesh_components that imports `pulumi`.

    ca = config.require_secret("ca")
    with Mesh("bookstore", {"namespaces": ["bookstore"], "ca": ca}) as mesh:
        mesh.auto_inject()
        MeshService("bookstore", {"namespace": "bookstore", "ports": [...]})
        TrafficSplit("bookstore-split", {...})
        k8s.apps.v1.Deployment(...)          # gets its sidecar from auto-injection

The core stays pure: these components turn arguments into the same model a spec file gives, and
emit what `render` emits. See docs/pulumi.md.
"""

from mesh_components.pulumi.args import (
    AccessPolicyArgs,
    DestinationSettingsArgs,
    EgressRuleArgs,
    MeshArgs,
    MeshFromSpecArgs,
    MeshIngressArgs,
    MeshServiceArgs,
    TrafficSplitArgs,
)
from mesh_components.pulumi.egress import EgressRule
from mesh_components.pulumi.emission import ConfigUpdates
from mesh_components.pulumi.errors import MeshProgramError
from mesh_components.pulumi.mesh import Mesh
from mesh_components.pulumi.service import MeshService
from mesh_components.pulumi.traffic import (
    AccessPolicy,
    DestinationSettings,
    MeshIngress,
    TrafficSplit,
)
from mesh_components.pulumi.whole_mesh import MeshFromSpec

__all__ = [
    "AccessPolicy",
    "AccessPolicyArgs",
    "ConfigUpdates",
    "DestinationSettings",
    "DestinationSettingsArgs",
    "EgressRule",
    "EgressRuleArgs",
    "Mesh",
    "MeshArgs",
    "MeshFromSpec",
    "MeshFromSpecArgs",
    "MeshIngress",
    "MeshIngressArgs",
    "MeshProgramError",
    "MeshService",
    "MeshServiceArgs",
    "TrafficSplit",
    "TrafficSplitArgs",
]
