"""The component provider that serves MeshFromSpec to programs in other languages.

Only the whole-mesh component is served: a provider constructs each component on its own and
cannot see the end of the consumer's program, so a Mesh there could never be finalized.
"""

from pulumi.provider.experimental import component_provider_host

from mesh_components.pulumi import MeshFromSpec

if __name__ == "__main__":
    component_provider_host([MeshFromSpec], name="mesh-components", version="0.1.0")
