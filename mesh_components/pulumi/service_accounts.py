"""The ServiceAccounts of the workloads a Mesh injects: a pod whose ServiceAccount does not exist
is refused by the API server, so the Mesh creates the one each identity runs as, as `render`
does, unless the program declares it itself.

The Mesh watches the program's ServiceAccounts with a stack transformation, which sees every
resource constructed after the Mesh (not those constructed before it, nor those of a component
created before it, nor a chart's that the provider registers). A program whose ServiceAccounts
the Mesh cannot see tells it with `mesh.declare_service_account(namespace, name)`, or sets
`create_service_accounts: False`. One declared after the Mesh created its own is an error, not
a second object for the same ServiceAccount.
"""

from collections.abc import Callable, Iterable
from typing import Any

import pulumi
from pulumi.runtime.settings import get_root_resource

from mesh_components.emit.kubernetes import accounts
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import Identity
from mesh_components.pipeline.injection import DEFAULT_NAMESPACE
from mesh_components.pulumi import lifecycle, resources
from mesh_components.pulumi.errors import reported
from mesh_components.pulumi.wire import to_wire

TYPE = "kubernetes:core/v1:ServiceAccount"


class ServiceAccounts:
    """The identities whose ServiceAccount the program declares, and those the mesh made."""

    def __init__(self, mesh: str, *, create: bool) -> None:
        self.mesh, self.create = mesh, create
        self.declared: dict[Identity, pulumi.Resource | None] = {}
        self.made: dict[Identity, pulumi.Resource] = {}

    def watch(self) -> None:
        """Note each ServiceAccount the program constructs from now on. A component provider
        constructing the Mesh for another language has no stack to watch, and no program
        resources the mesh could see."""
        if get_root_resource() is None:
            return

        def transformation(
            args: pulumi.ResourceTransformationArgs,
        ) -> pulumi.ResourceTransformationResult | None:
            if args.type_ == TYPE:
                self._seen(args)
            return None

        pulumi.runtime.register_stack_transformation(transformation)

    def declare(self, identity: Identity, resource: pulumi.Resource | None) -> None:
        """The program makes this ServiceAccount (as `resource`, when it is one)."""
        if identity in self.made:
            with lifecycle.settled_on_failure(), reported():
                raise MeshValidationError([_declared_after(self.mesh, identity)])
        if resource is not None or identity not in self.declared:
            self.declared[identity] = resource

    def make(
        self, identities: Iterable[Identity], options: Callable[[str], pulumi.ResourceOptions]
    ) -> None:
        """Create the ServiceAccount of each identity the program does not declare, except a
        namespace's `default`, which Kubernetes makes."""
        if not self.create:
            return
        for identity in sorted(set(identities) - set(self.declared)):
            if not accounts.mesh_owns(identity):
                continue
            obj = accounts.service_account(self.mesh, identity)
            self.made[identity] = resources.service_account(obj, options(identity.namespace))

    def of(self, identity: Identity) -> pulumi.Resource | None:
        """The resource of the identity's ServiceAccount, when the program or the mesh has one."""
        return self.made.get(identity) or self.declared.get(identity)

    def _seen(self, args: pulumi.ResourceTransformationArgs) -> None:
        metadata = to_wire(args.props.get("metadata") or {})
        if not isinstance(metadata, dict):
            return
        name, namespace = metadata.get("name"), metadata.get("namespace", DEFAULT_NAMESPACE)
        if isinstance(name, str) and isinstance(namespace, str):
            self.declare(Identity(namespace, name), args.resource)
        elif _is_output(name) or _is_output(namespace):
            pulumi.log.warn(
                f"ServiceAccount {args.name}: its name or namespace is an Output, so mesh "
                f"{self.mesh!r} cannot tell whose identity it is and may create that "
                "ServiceAccount too; write both as plain strings, or call "
                "mesh.declare_service_account(namespace, name)",
                resource=args.resource,
            )


def _is_output(value: Any) -> bool:
    return isinstance(value, pulumi.Output)


def _declared_after(mesh: str, identity: Identity) -> Problem:
    return Problem(
        f"ServiceAccount[{identity}]",
        "service-account-after-finalize",
        f"the program's own ServiceAccount declared before mesh {mesh!r} is finalized",
        "one declared after the mesh created it for the workloads that run as it",
        "declare it inside the `with Mesh(...)` block (or before mesh.finalize()), or set "
        "create_service_accounts: False when the program makes every ServiceAccount itself",
    )
