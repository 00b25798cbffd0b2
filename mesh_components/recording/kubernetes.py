"""What pulumi-kubernetes and the API server do to an object on its way in, emulated.

- Auto-naming: no `metadata.name` (and no `generateName`) gets `<resource name>-<8 hex>` and the
  `pulumi.com/autonamed: "true"` annotation, as the provider's Check does. The suffix is a hash
  of the stack and the URN, not random, so two renders of a program are byte-identical.
- Namespaced kinds without a namespace go to the provider's namespace, else `default`.
- Services that get a ClusterIP get one from 10.96.0.0/12, a hash of namespace/name, unless the
  program set one; during a preview it is unknown, as the API server has not allocated it yet.
- Ids are `namespace/name` (or `name` for cluster-scoped kinds), unknown during a preview.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Mapping
from typing import Any

from mesh_components.kinds import CLUSTER_SCOPED_KINDS
from mesh_components.recording.properties import UNKNOWN, Properties, PropertyPath

PROVIDER_TYPE = "pulumi:providers:kubernetes"
AUTONAMED_ANNOTATION = "pulumi.com/autonamed"
DEFAULT_NAMESPACE = "default"
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
# The API server's own Service (10.96.0.1) and, by convention, cluster DNS (10.96.0.10).
_RESERVED = frozenset({SERVICE_CIDR[1], SERVICE_CIDR[10]})
_GETS_CLUSTER_IP = frozenset({"ClusterIP", "NodePort", "LoadBalancer"})

# Modules of pulumi-kubernetes that are not plain objects: they expand manifests or charts in
# the provider, which the recording engine does not have.
_EXPANDING_MODULES = frozenset(
    {"yaml", "yaml/v2", "helm", "helm.sh/v3", "helm.sh/v4", "kustomize", "kustomize/v2"}
)


def object_kind(type_: str) -> tuple[str, str] | None:
    """(apiVersion, kind) of a plain Kubernetes object's type token, else None.
    `kubernetes:core/v1:Service` is ("v1", "Service")."""
    parts = type_.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    module, kind = parts[1], parts[2]
    if unsupported(type_) is not None:
        return None
    return module.removeprefix("core/"), kind


def unsupported(type_: str) -> str | None:
    """Why render cannot record a pulumi-kubernetes type, or None when it can."""
    parts = type_.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    module, kind = parts[1], parts[2]
    if module in _EXPANDING_MODULES:
        return "it expands manifests or a chart inside the provider, which render does not run"
    if kind.endswith("Patch"):
        return "a Patch edits a live object that render cannot see"
    if kind.endswith("List") and kind != "List":
        return "a List kind; declare its items as separate resources"
    return None


def autoname(name: str, urn: str, stack: str) -> str:
    """`<name>-<8 hex>` like the provider's, with a suffix that depends on the stack and URN."""
    seed = "\0".join((stack, urn)).encode()
    return f"{name}-{hashlib.sha256(seed).hexdigest()[:8]}"


def check(
    inputs: Properties, *, kind: str, name: str, urn: str, stack: str, namespace: str
) -> Properties:
    """The object the provider sends to the API server: inputs, named and namespaced."""
    values = dict(inputs.values)
    metadata = dict(values.get("metadata") or {})
    if metadata.get("name") is None and metadata.get("generateName") is None:
        metadata["name"] = autoname(name, urn, stack)
        annotations = dict(metadata.get("annotations") or {})
        annotations[AUTONAMED_ANNOTATION] = "true"
        metadata["annotations"] = annotations
    if kind not in CLUSTER_SCOPED_KINDS and metadata.get("namespace") is None:
        metadata["namespace"] = namespace
    values["metadata"] = metadata
    return Properties(values, inputs.secrets, inputs.unknowns)


def resource_id(checked: Mapping[str, Any], preview: bool) -> str:
    """The provider's id: `namespace/name`, or `name` for cluster-scoped kinds; "" (unknown)
    during a preview, as for any resource the engine has not created yet."""
    metadata = checked.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if preview or not isinstance(name, str):
        return ""
    return f"{namespace}/{name}" if isinstance(namespace, str) else name


class ClusterIps:
    """ClusterIP allocation for one run: a hash of namespace/name into the service CIDR, the
    next free address on a collision. Thread-safe (the SDK registers from a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}

    def outputs(self, checked: Properties, preview: bool) -> Properties:
        """The Service's outputs: `checked` with `spec.clusterIP(s)` as the API server sets them."""
        spec = checked.values.get("spec")
        if not isinstance(spec, Mapping) or not _gets_cluster_ip(spec):
            return checked
        metadata = checked.values["metadata"]
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        spec = dict(spec)
        unknowns = set(checked.unknowns)
        if spec.get("clusterIP"):
            self._reserve(str(spec["clusterIP"]), key)
        elif preview:
            spec["clusterIP"] = UNKNOWN
            unknowns.add(("spec", "clusterIP"))
        else:
            spec["clusterIP"] = self._allocate(key)
        if "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
            if spec["clusterIP"] is UNKNOWN:
                unknowns.add(("spec", "clusterIPs", 0))
        values = {**checked.values, "spec": spec}
        return Properties(values, checked.secrets, frozenset(unknowns))

    def _reserve(self, address: str, key: str) -> None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return  # not ours to judge: the API server rejects it on apply
        with self._lock:
            self._taken.setdefault(ip, key)

    def _allocate(self, key: str) -> str:
        size = SERVICE_CIDR.num_addresses - 2  # neither the network nor the broadcast address
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        with self._lock:
            for step in range(size):
                ip = SERVICE_CIDR[1 + (digest + step) % size]
                owner = self._taken.get(ip)
                if ip not in _RESERVED and owner in (None, key):
                    self._taken[ip] = key
                    return str(ip)
        raise RuntimeError(f"the service CIDR {SERVICE_CIDR} is full")


def _gets_cluster_ip(spec: Mapping[str, Any]) -> bool:
    if spec.get("clusterIP") == "None":
        return False
    return spec.get("type", "ClusterIP") in _GETS_CLUSTER_IP


def default_namespace(provider_inputs: Properties | None, config_namespace: str | None) -> str:
    """The namespace of objects that set none: their provider's `namespace`, else the stack
    config's `kubernetes:namespace` (for the default provider), else `default`."""
    if provider_inputs is not None:
        found = provider_inputs.values.get("namespace")
        return found if isinstance(found, str) and found else DEFAULT_NAMESPACE
    return config_namespace or DEFAULT_NAMESPACE


def secret_outputs(kind: str, outputs: Properties) -> Properties:
    """The provider marks a Secret's `data` and `stringData` outputs secret, secret inputs
    or not."""
    if kind != "Secret":
        return outputs
    marked = {path for path in _SECRET_FIELDS if path[0] in outputs.values}
    return Properties(outputs.values, outputs.secrets | marked, outputs.unknowns)


_SECRET_FIELDS: tuple[PropertyPath, ...] = (("data",), ("stringData",))
