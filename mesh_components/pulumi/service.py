"""The MeshService component: a Service in the mesh, and the headless companion its clients'
sidecars resolve to reach its pods directly."""

from typing import Any

import pulumi

from mesh_components.emit.kubernetes import services
from mesh_components.pulumi import lifecycle
from mesh_components.pulumi.args import MeshServiceArgs
from mesh_components.pulumi.declarations import component_document
from mesh_components.pulumi.resources import register

TYPE = "mesh-components:index:MeshService"


class MeshService(pulumi.ComponentResource):
    """A service in the mesh: its ports, protocols and selector. Creates the Service."""

    service_name: pulumi.Output[str]
    """The Service's name."""
    cluster_ip: pulumi.Output[str]
    """The ClusterIP the API server allocated ("None" for a headless service); unknown during
    preview, and nothing in the proxy configs depends on it."""

    def __init__(
        self,
        name: str,
        args: MeshServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        owner = lifecycle.find(mesh)
        document = component_document("services", MeshServiceArgs, args, {"name": name})
        declared = owner.declare_service(document)
        self.declared = declared
        """The service as the mesh's model holds it."""
        child = owner.in_namespace(declared.namespace, parent=self)
        service = register(services.service(owner.settings.name, declared), child)
        if not declared.headless:
            register(services.companion(owner.settings.name, declared), child)
        spec: Any = service.spec  # type: ignore[attr-defined]
        self.service_name = pulumi.Output.from_input(declared.name)
        self.cluster_ip = spec.apply(lambda s: getattr(s, "cluster_ip", None) or "")
        self.register_outputs({"service_name": self.service_name, "cluster_ip": self.cluster_ip})
