"""TrafficSplit, AccessPolicy, DestinationSettings and MeshIngress: declarations that live in
the proxies' configs, not in Kubernetes objects of their own (an ingress identity's
certificate Secret aside). `pulumi preview --diff` shows them as changed routes, weights, RBAC
rules, timeouts and limits in the ConfigMaps of exactly the workloads they affect."""

import pulumi

from mesh_components.pulumi import lifecycle
from mesh_components.pulumi.args import (
    AccessPolicyArgs,
    DestinationSettingsArgs,
    MeshIngressArgs,
    TrafficSplitArgs,
)
from mesh_components.pulumi.declarations import component_document

SPLIT_TYPE = "mesh-components:index:TrafficSplit"
POLICY_TYPE = "mesh-components:index:AccessPolicy"
DESTINATION_TYPE = "mesh-components:index:DestinationSettings"
INGRESS_TYPE = "mesh-components:index:MeshIngress"


class TrafficSplit(pulumi.ComponentResource):
    """Weighted traffic from a root service to its backends."""

    split_name: pulumi.Output[str]
    """The split's name."""

    def __init__(
        self,
        name: str,
        args: TrafficSplitArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(SPLIT_TYPE, name, None, opts)
        document = component_document("splits", TrafficSplitArgs, args, {"name": name})
        split = lifecycle.find(mesh).declare_split(document)
        self.split_name = pulumi.Output.from_input(split.name)
        self.register_outputs({"split_name": self.split_name})


class AccessPolicy(pulumi.ComponentResource):
    """Which identities may call a destination, and which requests they may make."""

    policy_name: pulumi.Output[str]
    """The policy's name."""

    def __init__(
        self,
        name: str,
        args: AccessPolicyArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(POLICY_TYPE, name, None, opts)
        document = component_document("policies", AccessPolicyArgs, args, {"name": name})
        policy = lifecycle.find(mesh).declare_policy(document)
        self.policy_name = pulumi.Output.from_input(policy.name)
        self.register_outputs({"policy_name": self.policy_name})


class DestinationSettings(pulumi.ComponentResource):
    """How clients call a service (timeouts, retries, routes, mirror, their sidecars' limits on
    its pods) and what its own sidecars enforce (rate limits, faults): docs/resilience.md."""

    service_name: pulumi.Output[str]
    """The service these settings are for."""

    def __init__(
        self,
        name: str,
        args: DestinationSettingsArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(DESTINATION_TYPE, name, None, opts)
        defaults = {"service": name}
        document = component_document("destinations", DestinationSettingsArgs, args, defaults)
        destination = lifecycle.find(mesh).declare_destination(document)
        self.service_name = pulumi.Output.from_input(destination.service)
        self.register_outputs({"service_name": self.service_name})


class MeshIngress(pulumi.ComponentResource):
    """Who outside the mesh may reach a service's ports: an ingress controller's identity with
    mTLS (the mesh issues it a certificate Secret), or IP ranges in plaintext."""

    ingress_name: pulumi.Output[str]
    """The entry's name."""

    def __init__(
        self,
        name: str,
        args: MeshIngressArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(INGRESS_TYPE, name, None, opts)
        document = component_document("ingress", MeshIngressArgs, args, {"name": name})
        entry = lifecycle.find(mesh).declare_ingress(document)
        self.ingress_name = pulumi.Output.from_input(entry.name)
        self.register_outputs({"ingress_name": self.ingress_name})
