"""What one run of a Pulumi program registered: every resource, the stack's exports, the log.

Resources are sorted by URN: the SDK registers them from a thread pool, so their arrival order
varies from run to run, and a recording must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mesh_components.errors import MeshError
from mesh_components.recording.properties import Properties


@dataclass(frozen=True)
class RecordedResource:
    """One registered resource. `inputs` are what the program sent (wire names, camelCase for
    pulumi-kubernetes); `outputs` are what the recording engine answered, as a real engine
    and provider would have (auto-name, namespace, allocated ClusterIP, ...)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    id: str | None
    inputs: Properties
    outputs: Properties
    remote: bool = False
    applied: Properties | None = None
    """For a Kubernetes object: what the provider sends to the API server (the inputs once
    named and namespaced), which is what a manifest holds."""


class Severity(Enum):
    """The level of a message the program logged through `pulumi.log`."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class LogMessage:
    """A message the program logged, with the URN of the resource it named, if any."""

    severity: Severity
    message: str
    urn: str = ""


@dataclass(frozen=True)
class Recording:
    """Everything one run registered, in URN order, with the stack's exports."""

    project: str
    stack: str
    preview: bool
    resources: tuple[RecordedResource, ...]
    exports: Properties
    log: tuple[LogMessage, ...] = ()

    def of_type(self, type_: str) -> dict[str, RecordedResource]:
        """{name: resource} of every resource of that type token."""
        return {r.name: r for r in self.resources if r.type == type_}

    def get(self, type_: str, name: str) -> RecordedResource:
        """The resource of that type token and name; a clear error if there is none."""
        found = self.of_type(type_).get(name)
        if found is None:
            known = ", ".join(sorted(self.of_type(type_))) or "none"
            raise MeshError(f"no {type_} named {name!r} was registered (registered: {known})")
        return found
