"""One recording run's engine: it answers registrations as the real engine and providers would,
and collects what cannot be emulated as problems, reported once the program has finished.

A problem never raises inside the monitor: the SDK would turn it into a half-resolved graph and
a confusing traceback. The program gets an empty answer, and `record` reports the problem.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.recording import kubernetes, stack_outputs
from mesh_components.recording.properties import Properties
from mesh_components.recording.recording import RecordedResource
from mesh_components.recording.stack_outputs import StackOutputs

_NOT_RUN = "the Pulumi engine runs it; render's mock engine cannot"


class Session:
    """The engine state of one run: registrations, allocations, problems, exports."""

    def __init__(
        self,
        *,
        project: str,
        stack: str,
        preview: bool,
        stack_references: Mapping[str, StackOutputs],
        config_namespace: str | None,
    ) -> None:
        self.project = project
        self.stack = stack
        self.preview = preview
        self.exports = Properties()
        self._references = dict(stack_references)
        self._config_namespace = config_namespace
        self._cluster_ips = kubernetes.ClusterIps()
        self._lock = threading.Lock()
        self._resources: dict[str, RecordedResource] = {}
        self._component_outputs: dict[str, Properties] = {}
        self._problems: set[Problem] = set()

    def register(
        self,
        *,
        urn: str,
        type_: str,
        name: str,
        custom: bool,
        parent: str | None,
        provider: str | None,
        inputs: Properties,
        remote: bool,
        transforms: int,
    ) -> tuple[str, Properties]:
        """Record a registration; answer with its id and outputs."""
        self._check_supported(urn, type_, remote, transforms)
        id_, outputs, applied = self._answer(
            urn, type_, name, custom=custom, provider=provider, inputs=inputs
        )
        resource = RecordedResource(
            urn,
            type_,
            name,
            custom,
            parent,
            provider,
            id_ or None,
            inputs,
            outputs,
            remote,
            applied,
        )
        with self._lock:
            self._resources[urn] = resource
        return id_, outputs

    def read(self, *, urn: str, type_: str, id_: str) -> Properties:
        """Answer a read: a StackReference from its file; anything else cannot be read."""
        if type_ != "pulumi:pulumi:StackReference":
            self.problem(
                Problem(
                    urn,
                    "read-unsupported",
                    "resources the program creates",
                    f"a read of an existing {type_} ({id_})",
                    "create it in the program; render cannot see live resources",
                )
            )
            return Properties()
        found = self._references.get(id_)
        if found is None:
            known = ", ".join(sorted(self._references)) or "none"
            self.problem(
                Problem(
                    f"StackReference[{id_}]",
                    "stack-reference-missing",
                    f"the outputs of stack {id_}",
                    f"no file for it (files were given for: {known})",
                    f"pass --stack-reference {id_}=FILE, FILE being the stack's outputs "
                    "(render writes one as stack-outputs; see docs/recording.md)",
                )
            )
        return stack_outputs.state(found, id_)

    def component_outputs(self, urn: str, outputs: Properties) -> None:
        """What a component registered with `register_outputs`."""
        with self._lock:
            self._component_outputs[urn] = outputs

    def unsupported_invoke(self, token: str) -> None:
        """A provider function was called."""
        if token.startswith(("kubernetes:yaml:", "kubernetes:helm:", "kubernetes:kustomize:")):
            self.problem(
                Problem(
                    f"invoke[{token}]",
                    "resource-unsupported",
                    "resources render can record",
                    f"a kubernetes yaml, helm or kustomize resource (it called {token}): it "
                    "expands manifests or a chart inside the provider, which render does not run",
                    "render it with its own tool (helm template, kustomize) or declare its objects",
                )
            )
            return
        self.problem(
            Problem(
                f"invoke[{token}]",
                "invoke-unsupported",
                "no provider functions",
                f"a call of {token}",
                f"avoid it in programs you render: {_NOT_RUN}",
            )
        )

    def stack_transform(self) -> None:
        """`register_resource_transform` was called."""
        self.problem(
            Problem(
                "register_resource_transform",
                "transform-not-run",
                "legacy stack transformations (register_stack_transformation)",
                "a resource transform",
                f"it would change what is deployed, and {_NOT_RUN}",
            )
        )

    def problem(self, problem: Problem) -> None:
        """Something the program did that cannot be recorded faithfully."""
        with self._lock:
            self._problems.add(problem)

    def has_problems(self) -> bool:
        """Whether anything could not be emulated."""
        with self._lock:
            return bool(self._problems)

    def raise_problems(self) -> None:
        """Raise every problem at once, if any."""
        with self._lock:
            problems = set(self._problems)
        if problems:
            raise MeshValidationError(problems)

    def resources(self) -> tuple[RecordedResource, ...]:
        """Every registration, in URN order, with the outputs components registered."""
        with self._lock:
            found = dict(self._resources)
            extra = dict(self._component_outputs)
        return tuple(
            _with_outputs(found[urn], extra[urn]) if urn in extra else found[urn]
            for urn in sorted(found)
        )

    def _check_supported(self, urn: str, type_: str, remote: bool, transforms: int) -> None:
        reason = kubernetes.unsupported(type_)
        if reason is None and remote:
            reason = "a multi-language component, built by its provider plugin"
        if reason is not None:
            fix = "render it with its own tool (helm template, kustomize) or declare its objects"
            self.problem(
                Problem(
                    urn,
                    "resource-unsupported",
                    "resources render can record",
                    f"{type_}: {reason}",
                    fix,
                )
            )
        if transforms:
            self.problem(
                Problem(
                    urn,
                    "transform-not-run",
                    "no `transforms` resource option",
                    f"{transforms} transform(s)",
                    f"use a legacy `transformations` "
                    f"option or a stack transformation instead: {_NOT_RUN}",
                )
            )

    def _answer(
        self,
        urn: str,
        type_: str,
        name: str,
        *,
        custom: bool,
        provider: str | None,
        inputs: Properties,
    ) -> tuple[str, Properties, Properties | None]:
        found = kubernetes.object_kind(type_)
        if found is not None and custom:
            return self._kubernetes(urn, found[1], name, provider, inputs)
        if not custom:
            return "", Properties(), None
        known = not self.preview or type_.startswith("pulumi:providers:")
        return (kubernetes.autoname(name, urn, self.stack) if known else ""), inputs, None

    def _kubernetes(
        self, urn: str, kind: str, name: str, provider: str | None, inputs: Properties
    ) -> tuple[str, Properties, Properties]:
        namespace = kubernetes.default_namespace(
            self._provider_inputs(provider), self._config_namespace
        )
        checked = kubernetes.check(
            inputs, kind=kind, name=name, urn=urn, stack=self.stack, namespace=namespace
        )
        outputs = self._cluster_ips.outputs(checked, self.preview) if kind == "Service" else checked
        id_ = kubernetes.resource_id(checked.values, self.preview)
        return id_, kubernetes.secret_outputs(kind, outputs), checked

    def _provider_inputs(self, reference: str | None) -> Properties | None:
        if not reference:
            return None
        with self._lock:
            found = self._resources.get(reference.rsplit("::", 1)[0])
        return found.inputs if found is not None else None


def _with_outputs(resource: RecordedResource, outputs: Properties) -> RecordedResource:
    return RecordedResource(
        resource.urn,
        resource.type,
        resource.name,
        resource.custom,
        resource.parent,
        resource.provider,
        resource.id,
        resource.inputs,
        outputs,
        resource.remote,
        resource.applied,
    )
