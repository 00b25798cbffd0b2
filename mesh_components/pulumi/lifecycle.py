"""Which meshes a program declared, and finalizing them once the program's code has run.

`pulumi.run` (an entrypoint awaited after the program's top-level code) finalizes every mesh
that is not finalized yet. A program may register `pulumi.run` only once; when it is taken, or
the runtime offers none (unit tests under `set_mocks`), the Mesh warns that it must be
finalized explicitly.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pulumi
from pulumi.runtime.settings import get_root_resource

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pulumi.errors import MeshProgramError
from mesh_components.pulumi.handle import MeshHandle

_state: dict[str, Any] = {"root": None, "meshes": {}, "hooked": False}


def remember(mesh: MeshHandle, *, finalize_at_end: bool = True) -> None:
    """Record `mesh` for the components that name it, and for finalization at the end."""
    meshes = _meshes()
    if mesh.settings.name in meshes:
        raise MeshProgramError(MeshValidationError([_duplicate(mesh.settings.name)]))
    meshes[mesh.settings.name] = mesh
    if not finalize_at_end:
        return
    if not _state["hooked"]:
        _state["hooked"] = _hook()
    if not _state["hooked"]:
        pulumi.log.warn(
            f"mesh {mesh.settings.name!r} must be finalized explicitly: use `with Mesh(...) as "
            "mesh:` or call mesh.finalize() after the last declaration (pulumi.run is taken or "
            "unavailable here)",
            resource=cast(pulumi.Resource, mesh),  # every MeshHandle is a Mesh, a resource
        )


def find(name: str | None) -> MeshHandle:
    """The mesh of that name, or the only one when no name is given."""
    meshes = _meshes()
    if name is not None and name in meshes:
        return meshes[name]
    if name is None and len(meshes) == 1:
        return next(iter(meshes.values()))
    known = ", ".join(sorted(meshes)) or "none"
    expected = "the name of a Mesh created earlier in this program"
    fix = "create the Mesh first" if not meshes else "pass mesh=<name> to say which mesh"
    found = repr(name) if name else f"no name, with meshes {known}"
    error = MeshProgramError(
        MeshValidationError([Problem("mesh", "mesh-unknown", expected, found, fix)])
    )
    abandon_all(error)
    raise error


@contextmanager
def settled_on_failure() -> Iterator[None]:
    """Whatever fails inside also settles every mesh's pending Outputs with that error."""
    try:
        yield
    except BaseException as error:
        abandon_all(error)
        raise


def abandon_all(error: BaseException) -> None:
    """The program is failing with `error`: settle every Output its meshes still owe, since
    Pulumi waits for each one and a program that ends with one pending never ends at all."""
    for mesh in _meshes().values():
        mesh.abandon(error)


def _meshes() -> dict[str, MeshHandle]:
    """This program's meshes; a new root stack (a new run or test) starts afresh."""
    root = get_root_resource()
    if _state["root"] is not root:
        _state.update(root=root, meshes={}, hooked=False)
    meshes: dict[str, MeshHandle] = _state["meshes"]
    return meshes


def _hook() -> bool:
    try:
        pulumi.run(_finalize_all)
    except (pulumi.RunError, AttributeError):
        return False
    return True


async def _finalize_all() -> None:
    for mesh in list(_meshes().values()):
        mesh.finalize()


def _duplicate(name: str) -> Problem:
    return Problem(
        f"mesh[{name}]",
        "mesh-duplicate",
        "one Mesh of each name per program",
        "a second one",
        "give the second mesh another name",
    )
