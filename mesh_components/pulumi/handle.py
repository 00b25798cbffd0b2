"""What the rest of the Pulumi shell holds of a Mesh: `MeshHandle`, the declarations and options
a Mesh offers, and `PendingBinding`, what a declared workload's sidecar will mount.

`mesh.Mesh` implements the protocol. It imports finalization (`lifecycle`) and injection, which
reach the Mesh through this module instead, so neither imports the Mesh back.
"""

from collections.abc import Callable
from typing import Any, Protocol

import pulumi

from mesh_components.emit.kubernetes.inject import ProxyBinding
from mesh_components.model import (
    AccessPolicy,
    Destination,
    EgressRule,
    Ingress,
    MeshSettings,
    Service,
    TrafficSplit,
    Workload,
)
from mesh_components.model.writer import Document


class Deferred:
    """An Output whose value is set later, when the mesh is finalized. Pulumi waits for every
    Output a program made, so each one must be settled, with a value or with the error that
    ended the program (`fail`), or the program never ends."""

    def __init__(self) -> None:
        pair: tuple[pulumi.Output[Any], Callable[[pulumi.Output[Any]], None]]
        pair = pulumi.deferred_output()
        self.output, self._resolve = pair
        self.settled = False

    def resolve(self, value: pulumi.Input[Any]) -> None:
        self.settled = True
        self._resolve(pulumi.Output.from_input(value))

    def fail(self, error: BaseException) -> None:
        """Settle it with `error`, unless it already has a value: whatever waits on it (a
        workload's volumes, a stack output) then fails with the program's own error."""
        if not self.settled:
            self.resolve(pulumi.Output.from_input(None).apply(_raising(error)))


def _raising(error: BaseException) -> Callable[[object], Any]:
    def raise_it(_: object) -> Any:
        raise error

    return raise_it


class PendingBinding:
    """A workload's ConfigMap and Secret names and config digest, known once finalized."""

    def __init__(self, hot_reload: bool, secret: Deferred) -> None:
        self.config_map, self.secret = Deferred(), secret
        self.digest = None if hot_reload else Deferred()

    @property
    def deferred(self) -> tuple[Deferred, ...]:
        """Every Output this binding waits for."""
        return tuple(d for d in (self.config_map, self.secret, self.digest) if d is not None)

    def resolved(self) -> pulumi.Output[ProxyBinding]:
        digest = pulumi.Output.from_input("") if self.digest is None else self.digest.output
        names = pulumi.Output.all(self.config_map.output, self.secret.output, digest)
        hot_reload = self.digest is None
        return names.apply(lambda n: ProxyBinding(n[0], n[1], None if hot_reload else n[2]))


class MeshHandle(Protocol):
    """A Mesh as finalization, injection and the components use it."""

    @property
    def settings(self) -> MeshSettings: ...

    @property
    def namespaces(self) -> tuple[str, ...]: ...

    def declare_service(self, document: Document) -> Service: ...

    def declare_split(self, document: Document) -> TrafficSplit: ...

    def declare_policy(self, document: Document) -> AccessPolicy: ...

    def declare_destination(self, document: Document) -> Destination: ...

    def declare_ingress(self, document: Document) -> Ingress: ...

    def declare_egress(self, document: Document) -> EgressRule: ...

    def declare_workload(self, workload: Workload) -> PendingBinding: ...

    def in_namespace(
        self, namespace: str, *, parent: pulumi.Resource | None = None
    ) -> pulumi.ResourceOptions: ...

    def finalize(self) -> None: ...

    def abandon(self, error: BaseException) -> None: ...
