"""The platform stack: the mesh itself (settings, CA, namespaces), and what app stacks need.

pulumi config set --secret ca "$(cat ca.secret.yaml)"
pulumi up
"""

import pulumi

from mesh_components.pulumi import Mesh

config = pulumi.Config()
SETTINGS = {"namespaces": ["shop"], "mtls": "strict", "access": "policy"}

with Mesh("shop", {**SETTINGS, "ca": config.require_secret("ca")}) as mesh:
    pass

pulumi.export("declarations", mesh.declarations)  # settings and what this stack declared
pulumi.export("ca", config.require_secret("ca"))  # stays a secret in the app stacks too
pulumi.export("caBundle", mesh.ca_bundle)
