"""Workloads to pods, as the Deployment, ReplicaSet, StatefulSet, DaemonSet and Job controllers
see it on one node: which pods a workload wants, their names, and what a rollout replaces.

A pod belongs to its workload's template by a hash of the template, so a changed template
(the mesh's config-hash annotation included) means new pods, while a changed ConfigMap alone
does not. `UpdateReport` says what an update did.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local.manifests import namespace_of, pod_template, replicas
from mesh_components.local.pod import Pod


@dataclass(frozen=True, slots=True)
class Desired:
    """What one workload wants."""

    key: str  # "namespace/Kind/name"
    kind: str
    namespace: str
    name: str
    template: Json
    template_hash: str
    replicas: int
    service_name: str  # a StatefulSet's governing Service

    @property
    def workload(self) -> str:
        return f"{self.kind}/{self.name}"

    def pod_name(self, ordinal: int) -> str:
        if self.kind == "StatefulSet":
            return f"{self.name}-{ordinal}"
        if self.kind == "Pod":
            return self.name
        if self.kind == "Deployment":
            return f"{self.name}-{self.template_hash[:10]}-{secrets.token_hex(3)[:5]}"
        return f"{self.name}-{secrets.token_hex(3)[:5]}"

    def hostname(self, pod_name: str) -> tuple[str, str]:
        """(hostname, subdomain) of a pod, as the kubelet sets them."""
        spec = self.template.get("spec") or {}
        if self.kind == "StatefulSet":
            return pod_name, self.service_name
        return str(spec.get("hostname") or pod_name), str(spec.get("subdomain") or "")


def desired(workload: Json) -> Desired:
    template = pod_template(workload)
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    namespace = namespace_of(workload)
    name = workload["metadata"]["name"]
    return Desired(
        key=f"{namespace}/{workload['kind']}/{name}",
        kind=workload["kind"],
        namespace=namespace,
        name=name,
        template=template,
        template_hash=digest[:16],
        replicas=replicas(workload),
        service_name=str((workload.get("spec") or {}).get("serviceName", "")),
    )


@dataclass
class UpdateReport:
    """What an update changed."""

    volumes: list[str] = field(default_factory=list)
    rolled: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "ns/pod: counter +n", from Envoy
    swapped_at: float = 0.0  # time.time() once the volumes were swapped

    def __str__(self) -> str:
        parts = [
            f"{len(self.volumes)} volumes swapped",
            f"{len(self.rolled)} workloads rolled",
            f"{len(self.created)} created",
            f"{len(self.deleted)} deleted",
        ]
        lines = [", ".join(parts)]
        lines += [f"envoy rejected the new config: {r}" for r in self.rejected]
        return "\n".join(lines)


def owner_key(pod: Pod) -> str:
    """The `Desired.key` of the workload that owns `pod`."""
    kind, name = pod.id.workload.split("/", 1)
    return f"{pod.id.namespace}/{kind}/{name}"


def owns(pod: Pod, want: Desired) -> bool:
    """Whether `want`'s workload owns `pod`."""
    return owner_key(pod) == want.key
