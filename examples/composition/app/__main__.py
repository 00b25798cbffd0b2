"""The app stack: joins the platform's mesh through a StackReference and adds the shop.

    pulumi config set platformStack <org>/mesh-platform/<stack>
    pulumi up

The CA comes from the platform stack (a secret output), and its declarations are compiled
with this stack's, so the proxy configs are what one stack declaring everything would give.
The settings below must equal the platform's; a mismatch is an error when the mesh compiles.
"""

import pulumi
import shop

from mesh_components.pulumi import Mesh

config = pulumi.Config()
platform = pulumi.StackReference(config.require("platformStack"))
SETTINGS = {"namespaces": ["shop"], "mtls": "strict", "access": "policy"}

with Mesh(
    "shop",
    {**SETTINGS, "create_namespaces": False, "ca": platform.require_output("ca")},
    imports=[platform.require_output("declarations")],
) as mesh:
    mesh.auto_inject()
    shop.declare(mesh)

pulumi.export("declarations", mesh.declarations)
pulumi.export("configHashes", mesh.config_hashes)
