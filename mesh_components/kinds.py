"""Which Kubernetes kinds are cluster-scoped: they have no namespace, and are applied before
the namespaced objects (a CustomResourceDefinition before its resources)."""

from __future__ import annotations

from typing import Any

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
"""The built-in kinds without a namespace. A custom resource's scope is in its CRD, which the
mesh does not read: custom resources are taken as namespaced."""


def is_cluster_scoped(manifest: dict[str, Any]) -> bool:
    return manifest.get("kind") in CLUSTER_SCOPED_KINDS
