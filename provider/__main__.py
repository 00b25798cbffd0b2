"""The component provider that serves MeshFromSpec to programs in other languages.

Only the whole-mesh component is served: a provider constructs each component on its own and
cannot see the end of the consumer's program, so a Mesh there could never be finalized.

A mistake in the mesh reaches the engine as Pulumi's input-property errors, one per problem
with its path, instead of the Python traceback a component's exception would otherwise carry.
"""

import sys

from pulumi.errors import InputPropertiesError
from pulumi.provider import main
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.provider import ConstructResult
from pulumi.provider.server import ComponentInitError

from mesh_components.errors import Problem
from mesh_components.pulumi import MeshFromSpec, MeshProgramError

NAME, VERSION = "mesh-components", "0.1.0"


class MeshProvider(ComponentProvider):
    """The component provider, with the mesh's problems reported as property errors."""

    def construct(self, *args: object, **kwargs: object) -> ConstructResult:
        try:
            return super().construct(*args, **kwargs)  # type: ignore[arg-type]
        except ComponentInitError as error:
            inner = error.inner
            if not isinstance(inner, MeshProgramError):
                raise
            problems = [
                {"property_path": problem.path, "reason": _reason(problem)}
                for problem in inner.problems
            ]
            raise InputPropertiesError(str(inner), problems) from None  # type: ignore[arg-type]


def _reason(problem: Problem) -> str:
    """The problem without its path, which the engine prints beside it."""
    return str(problem).removeprefix(f"{problem.path}: ")


if __name__ == "__main__":
    main(MeshProvider([MeshFromSpec], NAME, None, VERSION), sys.argv[1:])
