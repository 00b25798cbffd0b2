"""What a Mesh creates once its declarations are complete: one proxy ConfigMap per workload and
one identity Secret (or cert-manager Certificate) per identity.

Two ways for changes to reach running pods (`config_updates`):
- `rollout` (default): ConfigMaps and Secrets are immutable and named after their content
  (`<workload>-mesh-proxy-<hash>`). A change creates a new object, the pod template points at it
  and the pods roll; the old object is deleted after. Works with any provider.
- `hot-reload`: fixed names, updated in place; Envoy reloads the files it watches with no
  restart. The Kubernetes provider must set `enableConfigMapMutable` and `enableSecretMutable`,
  or pulumi-kubernetes replaces the object instead.
"""

import enum
from dataclasses import dataclass
from datetime import datetime

import pulumi

from mesh_components import names
from mesh_components.emit.kubernetes import config_maps
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.secrets import identity_secret
from mesh_components.model import Identity, MeshSettings, WorkloadRef
from mesh_components.pipeline.budget import BudgetedMesh
from mesh_components.pipeline.identities import identity_object
from mesh_components.pki import IdentityCertificate, MeshTrust
from mesh_components.pulumi import resources

CONTENT_HASH_CHARACTERS = 10


class ConfigUpdates(enum.StrEnum):
    """How a changed proxy config or certificate reaches running pods."""

    ROLLOUT = "rollout"
    HOT_RELOAD = "hot-reload"


@dataclass(frozen=True)
class Emitted:
    """A created object's final name (a dependency on it), and the digest of its content."""

    name: pulumi.Output[str]
    digest: pulumi.Output[str]


def proxy_config(
    compiled: pulumi.Output[BudgetedMesh],
    settings: MeshSettings,
    workload: WorkloadRef,
    updates: ConfigUpdates,
    opts: pulumi.ResourceOptions,
) -> Emitted:
    """The workload's ConfigMap (its size already checked against the budget as it was built)."""
    files = compiled.apply(lambda mesh: mesh.files[workload])
    digest = files.apply(config_maps.config_hash)
    obj = files.apply(lambda found: config_maps.proxy_config_map(settings.name, workload, found))
    metadata = pulumi.Output.all(obj, digest).apply(
        lambda p: _named(p[0]["metadata"], p[1], updates)
    )
    resource = resources.config_map(
        f"{workload.namespace}/{names.proxy_config_map(workload.name)}",
        metadata,
        obj.apply(lambda o: o["data"]),
        immutable=updates is ConfigUpdates.ROLLOUT,
        opts=opts,
    )
    return Emitted(resources.name_of(resource), digest)


def identity_secret_of(
    issued: pulumi.Output[IdentityCertificate],
    settings: MeshSettings,
    of: Identity,
    updates: ConfigUpdates,
    opts: pulumi.ResourceOptions,
) -> Emitted:
    """The identity's Secret from the built-in CA; its data stays a Pulumi secret."""
    obj = issued.apply(lambda cert: identity_secret(settings.name, of, cert.files()))
    data = obj.apply(lambda o: o["data"])
    digest = pulumi.Output.unsecret(data.apply(config_maps.config_hash))
    base = obj.apply(lambda o: o["metadata"])
    metadata = pulumi.Output.all(base, digest).apply(lambda p: _named(p[0], p[1], updates))
    resource = resources.secret(
        f"{of.namespace}/{names.identity_secret(of.service_account)}",
        pulumi.Output.unsecret(metadata),
        data,
        immutable=updates is ConfigUpdates.ROLLOUT,
        opts=opts,
    )
    return Emitted(resources.name_of(resource), digest)


def identity_certificate_of(
    settings: MeshSettings, of: Identity, now: datetime, opts: pulumi.ResourceOptions
) -> Emitted:
    """The identity's cert-manager Certificate; cert-manager names the Secret as asked."""
    resource = resources.register(identity_object(settings, of, None, now), opts)
    name = names.identity_secret(of.service_account)
    return Emitted(resource.id.apply(lambda _: name), pulumi.Output.from_input(""))


def issue(
    trust: pulumi.Output[MeshTrust], of: Identity, now: datetime
) -> pulumi.Output[IdentityCertificate]:
    return trust.apply(lambda t: t.issue(of, now))


def _named(metadata: Json, digest: str, updates: ConfigUpdates) -> Json:
    """Content-addressed in rollout mode, so a change is a new object the pods move to."""
    if updates is ConfigUpdates.HOT_RELOAD:
        return metadata
    return {**metadata, "name": f"{metadata['name']}-{digest[:CONTENT_HASH_CHARACTERS]}"}
