"""EgressRule: destinations outside the mesh that some workloads may reach. Like splits and
policies it lives in the proxies' configs only: `pulumi preview --diff` shows it as changed
outbound chains and clusters of exactly the workloads it picks (docs/egress.md)."""

import pulumi

from mesh_components.pulumi import lifecycle
from mesh_components.pulumi.args import EgressRuleArgs
from mesh_components.pulumi.declarations import component_document

TYPE = "mesh-components:index:EgressRule"


class EgressRule(pulumi.ComponentResource):
    """Hosts (HTTP Host, TLS SNI) and IPv4 ranges outside the mesh that the workloads of one
    namespace (all, or those a selector or ServiceAccount picks) may reach."""

    rule_name: pulumi.Output[str]
    """The rule's name."""

    def __init__(
        self,
        name: str,
        args: EgressRuleArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        mesh: str | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        document = component_document("egress", EgressRuleArgs, args, {"name": name})
        rule = lifecycle.find(mesh).declare_egress(document)
        self.rule_name = pulumi.Output.from_input(rule.name)
        self.register_outputs({"rule_name": self.rule_name})
