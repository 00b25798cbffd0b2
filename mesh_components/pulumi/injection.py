"""Sidecar injection in a Pulumi program: automatic (a stack transformation, the counterpart of
a mutating webhook) or explicit (`mesh.inject(...)` for the arguments of one workload).

Both read the workload the way `inject` reads a manifest: its pod labels, ServiceAccount, ports
and probes become the mesh's view of it, so those must be plain values. The sidecar itself is
added once the mesh is finalized, through an Output, because the names of the ConfigMap and
Secret it mounts are known only then.

The transformation is Pulumi's synchronous, SDK-side kind (`register_stack_transformation`): it
runs as each resource is constructed, so the mesh knows every workload before it finalizes, and
it runs the same under the real engine and under mocks.
"""

from typing import Any

import pulumi

from mesh_components.emit.kubernetes.inject import (
    TEMPLATE_PATHS,
    ProxyBinding,
    inject_manifest,
    opted_out,
)
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import MeshSettings
from mesh_components.pipeline.injection import DEFAULT_NAMESPACE, shape_problems, workload_of
from mesh_components.pulumi import lifecycle
from mesh_components.pulumi.errors import MeshProgramError, reported
from mesh_components.pulumi.handle import MeshHandle
from mesh_components.pulumi.wire import has_outputs, to_wire

KINDS = {
    "kubernetes:apps/v1:Deployment": ("apps/v1", "Deployment"),
    "kubernetes:apps/v1:StatefulSet": ("apps/v1", "StatefulSet"),
    "kubernetes:apps/v1:DaemonSet": ("apps/v1", "DaemonSet"),
    "kubernetes:apps/v1:ReplicaSet": ("apps/v1", "ReplicaSet"),
    "kubernetes:batch/v1:Job": ("batch/v1", "Job"),
    "kubernetes:batch/v1:CronJob": ("batch/v1", "CronJob"),
    "kubernetes:core/v1:Pod": ("v1", "Pod"),
}
"""The resource types auto-injection rewrites, with their apiVersion and kind."""

_READ_FIELDS = ("name", "ports", "livenessProbe", "readinessProbe", "startupProbe")


def register_auto_injection(mesh: MeshHandle) -> None:
    """Rewrite every workload constructed from now on in one of the mesh's namespaces."""

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        with lifecycle.settled_on_failure():  # a program that fails here must still end
            return _transformed(mesh, args)

    pulumi.runtime.register_stack_transformation(transformation)


def inject(
    mesh: MeshHandle, resource_name: str, kind: str, metadata: Any, spec: Any
) -> dict[str, Any]:
    """`metadata` and `spec` for a workload resource's constructor, with the sidecar.

    `kind` is the workload's kind (Deployment, StatefulSet, ...). Opted-out workloads come back
    unchanged.
    """
    api_version = next((api for api, k in KINDS.values() if k == kind), None)
    with lifecycle.settled_on_failure():  # a program that fails here must still end
        if api_version is None:
            allowed = ", ".join(k for _, k in KINDS.values())
            problem = Problem("kind", "inject-kind-unsupported", f"one of {allowed}", repr(kind))
            raise MeshProgramError(MeshValidationError([problem]))
        manifest = _manifest(api_version, kind, {"metadata": metadata, "spec": spec})
        injected = _injected(mesh, resource_name, manifest)
    if injected is None:
        return {"metadata": metadata, "spec": spec}
    return {"metadata": injected[0], "spec": injected[1]}


def _transformed(
    mesh: MeshHandle, args: pulumi.ResourceTransformationArgs
) -> pulumi.ResourceTransformationResult | None:
    if args.type_ not in KINDS:
        return None
    manifest = _manifest(*KINDS[args.type_], args.props)
    namespace = manifest["metadata"].get("namespace", DEFAULT_NAMESPACE)
    if isinstance(namespace, pulumi.Output):
        pulumi.log.warn(
            f"{manifest['kind']} {args.name}: metadata.namespace is an Output, so the mesh cannot "
            "tell whether to inject it; write the namespace as a plain string",
            resource=args.resource,
        )
        return None
    if namespace not in mesh.namespaces:
        return None
    injected = _injected(mesh, args.name, manifest)
    if injected is None:
        return None
    props = {**args.props, "metadata": injected[0], "spec": injected[1]}
    return pulumi.ResourceTransformationResult(props, args.opts)


def _manifest(api_version: str, kind: str, props: Any) -> Json:
    fields = to_wire({"metadata": props.get("metadata") or {}, "spec": props.get("spec") or {}})
    return {"apiVersion": api_version, "kind": kind, **fields}


def _injected(mesh: MeshHandle, resource_name: str, manifest: Json) -> tuple[Any, Any] | None:
    """The metadata and spec (an Output) of the injected workload; None when it opts out.
    A bare Pod is its own template, so its metadata (the mesh's annotations) is an Output too."""
    metadata = _named(resource_name, manifest)
    if opted_out(metadata):
        return None
    readable = {**manifest, "metadata": metadata}
    with reported():
        _check_readable(readable)
        problems = list(shape_problems(readable))
        if problems:
            raise MeshValidationError(problems)
        workload = workload_of(readable)
    if workload is None:
        return None
    binding = mesh.declare_workload(workload).resolved()
    injected = pulumi.Output.all(pulumi.Output.from_input(manifest["spec"]), binding).apply(
        lambda pair: _with_sidecar(readable, pair[0], mesh.settings, pair[1])
    )
    spec = injected.apply(lambda found: found["spec"])
    if manifest["kind"] == "Pod":
        return injected.apply(lambda found: found["metadata"]), spec
    return metadata, spec


def _named(resource_name: str, manifest: Json) -> Json:
    """Metadata with a plain name and an explicit namespace: the mesh's objects are named after
    the workload and live beside it. An unnamed workload is named after its resource."""
    metadata = dict(manifest["metadata"])
    metadata.setdefault("namespace", DEFAULT_NAMESPACE)
    metadata.setdefault("name", resource_name)
    for key in ("name", "namespace"):
        if not isinstance(metadata[key], str):
            found = "an Output" if isinstance(metadata[key], pulumi.Output) else repr(metadata[key])
            raise MeshProgramError(MeshValidationError([_not_plain(f"metadata.{key}", found)]))
    return metadata


def _check_readable(manifest: Json) -> None:
    """The fields the mesh reads must be plain values: its configs are computed from them."""
    walked: list[str] = []
    template: Json = manifest
    for key in TEMPLATE_PATHS[manifest["kind"]]:
        template = _plain_mapping(template, key, walked)
    pod_spec = _plain_mapping(template, "spec", walked)
    read = {
        "template.metadata": template.get("metadata"),
        "template.spec.serviceAccountName": pod_spec.get("serviceAccountName"),
        **{
            f"template.spec.containers[{i}].{field}": container.get(field)
            for i, container in enumerate(pod_spec.get("containers") or [])
            if isinstance(container, dict)
            for field in _READ_FIELDS
        },
    }
    problems = [_not_plain(path, "an Output") for path, value in read.items() if has_outputs(value)]
    if problems:
        raise MeshValidationError(problems)


def _plain_mapping(node: Json, key: str, walked: list[str]) -> Json:
    """`node[key]` on the way to the pod spec ({} unless a mapping), which must not be an
    Output: the mesh reads what is inside."""
    walked.append(key)
    found = node.get(key)
    if isinstance(found, pulumi.Output):
        raise MeshValidationError([_spec_not_plain(".".join(walked))])
    return found if isinstance(found, dict) else {}


def _with_sidecar(
    manifest: Json, spec: Json, settings: MeshSettings, binding: ProxyBinding
) -> Json:
    with reported():
        return inject_manifest({**manifest, "spec": spec}, settings, binding)


def _spec_not_plain(key: str) -> Problem:
    return Problem(
        key,
        "workload-field-not-plain",
        "the workload's spec as plain values (the mesh computes proxy configs from it)",
        "an Output",
        "write the spec as literals; a spec from mesh.inject(...) has its sidecar already, so "
        "inject each workload once: by mesh.inject or by auto_inject, not both",
    )


def _not_plain(path: str, found: str) -> Problem:
    return Problem(
        path,
        "workload-field-not-plain",
        "a plain value (the mesh computes proxy configs from it)",
        found,
        "write it as a literal or read it from config; not from another resource's output",
    )
