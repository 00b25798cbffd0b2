"""The component provider that serves MeshFromSpec to programs in other languages.

Only the whole-mesh component is served: a provider constructs each component on its own and
cannot see the end of the consumer's program, so a Mesh there could never be finalized.

A mistake in the mesh reaches the engine as Pulumi's input-property errors, one per problem
with its path, instead of the Python traceback a component's exception would otherwise carry.
"""

import sys

from pulumi import Inputs, ResourceOptions
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.provider import main
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult
from pulumi.provider.server import ComponentInitError

from mesh_components.errors import Problem
from mesh_components.pulumi import MeshFromSpec, MeshProgramError

NAME, VERSION = "mesh-components", "0.1.0"


class MeshProvider(ComponentProvider):
    """The component provider, with the mesh's problems reported as property errors."""

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: Inputs,
        options: ResourceOptions | None = None,
    ) -> ConstructResult:
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as error:
            inner = error.inner
            if not isinstance(inner, MeshProgramError):
                raise
            problems = [
                InputPropertyErrorDetails(property_path=problem.path, reason=_reason(problem))
                for problem in inner.problems
            ]
            raise InputPropertiesError(str(inner), problems) from None


def _reason(problem: Problem) -> str:
    """The problem without its path, which the engine prints beside it."""
    return str(problem).removeprefix(f"{problem.path}: ")


if __name__ == "__main__":
    main(MeshProvider([MeshFromSpec], NAME, None, VERSION), sys.argv[1:])
