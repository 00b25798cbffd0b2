"""Kubernetes objects, as the emitters write them, registered as pulumi-kubernetes resources.

The emitters produce API-shaped JSON; this module only chooses the resource class and passes the
fields through, so `render` and `pulumi up` create the same objects. Fields may be Outputs
(metadata and data computed once the mesh is complete); Secret data is always a Pulumi secret.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mesh_components.emit.kubernetes.metadata import Json

Options = pulumi.ResourceOptions


def logical_name(obj: Json) -> str:
    """`<namespace>/<name>`: unique in a stack, because the resource type is part of the URN."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def register(obj: Json, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """A plain object (a Namespace, Service or custom resource) as a resource."""
    kind, name, meta = obj["kind"], logical_name(obj), obj["metadata"]
    if kind == "Namespace":
        return k8s.core.v1.Namespace(name, metadata=meta, opts=opts)
    if kind == "Service":
        return k8s.core.v1.Service(name, metadata=meta, spec=obj["spec"], opts=opts)
    return k8s.apiextensions.CustomResource(
        name, api_version=obj["apiVersion"], kind=kind, metadata=meta, spec=obj["spec"], opts=opts
    )


def config_map(
    name: str,
    metadata: Any,
    data: pulumi.Input[Any],
    *,
    immutable: bool,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        name, metadata=metadata, data=data, immutable=immutable or None, opts=opts
    )


def secret(
    name: str,
    metadata: Any,
    data: pulumi.Input[Any],
    *,
    immutable: bool,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        name,
        metadata=metadata,
        type="kubernetes.io/tls",
        data=pulumi.Output.secret(data),
        immutable=immutable or None,
        opts=opts,
    )


def name_of(resource: k8s.core.v1.ConfigMap | k8s.core.v1.Secret) -> pulumi.Output[str]:
    """The object's final name, carrying the dependency on it: whatever uses the name waits
    until the object exists."""
    return resource.metadata.apply(lambda meta: str(meta["name"]) if meta else "")


WORKLOAD_CLASSES: dict[str, Any] = {
    "Deployment": k8s.apps.v1.Deployment,
    "StatefulSet": k8s.apps.v1.StatefulSet,
    "DaemonSet": k8s.apps.v1.DaemonSet,
    "ReplicaSet": k8s.apps.v1.ReplicaSet,
    "Job": k8s.batch.v1.Job,
    "CronJob": k8s.batch.v1.CronJob,
    "Pod": k8s.core.v1.Pod,
}


def workload(obj: Json, spec: Any, opts: Options) -> pulumi.CustomResource:
    """A workload manifest as a resource, with `spec` (an injected Output, say) as its spec."""
    resource: pulumi.CustomResource = WORKLOAD_CLASSES[obj["kind"]](
        logical_name(obj), metadata=obj["metadata"], spec=spec, opts=opts
    )
    return resource


def service_account(obj: Json, opts: Options) -> k8s.core.v1.ServiceAccount:
    return k8s.core.v1.ServiceAccount(logical_name(obj), metadata=obj["metadata"], opts=opts)
