"""The Mesh component: settings, CA and namespaces; it collects every declaration of the program
and emits the proxy configs and identities once the program has declared everything.

A workload's config depends on the whole mesh, so nothing per workload can be emitted while the
program is still declaring. The Mesh emits when it is finalized:
- automatically, after the program's top-level code, through `pulumi.run` (nothing to forget);
- or explicitly: `with Mesh(...) as mesh:` or `mesh.finalize()`, where `pulumi.run` is taken
  or unavailable (the Mesh then says so when it is created).
Declaring anything in a finalized mesh is an error. Pods reference their ConfigMap and Secret
through Outputs that resolve at finalization, so Pulumi creates them first. At finalization the
Mesh also creates the ServiceAccount of each identity its workloads run as, unless the program
declares it (`service_accounts`); an identity's certificate is created after its ServiceAccount,
and so are the pods that mount it.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import pulumi

from mesh_components.emit.kubernetes import accounts
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import (
    AccessPolicy,
    Destination,
    EgressRule,
    Identity,
    Ingress,
    MeshSettings,
    Service,
    TrafficSplit,
    Workload,
    WorkloadRef,
)
from mesh_components.model.writer import Document
from mesh_components.pipeline.budget import BudgetedMesh, build_within_budget
from mesh_components.pipeline.identities import needs_authority
from mesh_components.pki import CertificatePolicy, MeshTrust, ca_file
from mesh_components.pulumi import emission, injection, lifecycle
from mesh_components.pulumi.args import MeshArgs
from mesh_components.pulumi.declarations import Declarations, component_document
from mesh_components.pulumi.emission import ConfigUpdates, Emitted
from mesh_components.pulumi.errors import reported
from mesh_components.pulumi.handle import Deferred, PendingBinding
from mesh_components.pulumi.resources import register
from mesh_components.pulumi.service_accounts import ServiceAccounts

TYPE = "mesh-components:index:Mesh"
T = TypeVar("T")


class Mesh(pulumi.ComponentResource):
    """A service mesh: its settings, CA and namespaces, and everything declared in it."""

    mesh_name: pulumi.Output[str]
    """The mesh's name."""
    identities: pulumi.Output[list[str]]
    """Every identity (`<namespace>/<service account>`) of this stack's workloads."""
    ca_bundle: pulumi.Output[str]
    """The CA certificates sidecars trust (PEM); empty in cert-manager mode."""
    config_hashes: pulumi.Output[dict[str, str]]
    """Per workload (`<namespace>/<name>`), the digest of its proxy config."""
    certificate_expiry: pulumi.Output[dict[str, str]]
    """Per identity, when its current certificate expires (ISO 8601); built-in CA only."""
    declarations: pulumi.Output[dict[str, Any]]
    """This stack's declarations in the spec format, for other stacks' `imports`."""

    def __init__(
        self,
        name: str,
        args: MeshArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        imports: Sequence[pulumi.Input[Document]] = (),
        now: datetime | None = None,
        finalize_at_end: bool = True,
    ) -> None:
        """`imports`: other stacks' `declarations` outputs, compiled together with this
        stack's. `now`: the instant certificates are issued for (the clock by default).
        `finalize_at_end=False`: the caller finalizes (a component that declares a whole
        mesh at once)."""
        super().__init__(TYPE, name, None, opts)
        with lifecycle.settled_on_failure(), reported():
            document = component_document("mesh", MeshArgs, args, {"name": name})
            self._declarations = Declarations(document)
            self._updates = _config_updates(args.get("config_updates", "rollout"))
            self._ca = _checked_ca(self.settings, args.get("ca"))
            create_namespaces = _flag(args, "create_namespaces")
            create_accounts = _flag(args, "create_service_accounts")
        self._namespaces = tuple(args.get("namespaces", ()))
        self._imports = tuple(imports)
        self._now = now or datetime.now(UTC).replace(microsecond=0)
        self._bindings: dict[WorkloadRef, PendingBinding] = {}
        self._secret_names: dict[Identity, Deferred] = {}
        self._outputs = {key: Deferred() for key in _OUTPUTS}
        for key, deferred in self._outputs.items():
            setattr(self, key, deferred.output)
        self.finalized = False
        created = self._namespaces if create_namespaces else ()
        self.namespace_resources = {
            namespace: register(accounts.namespace(self.settings.name, namespace), self._child())
            for namespace in created
        }
        """The Namespaces this mesh created: depend on one to create things inside it."""
        lifecycle.remember(self, finalize_at_end=finalize_at_end)
        self._accounts = ServiceAccounts(self.settings.name, create=create_accounts)
        self._accounts.watch()

    @property
    def settings(self) -> MeshSettings:
        return self._declarations.settings

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces this mesh manages; auto-injection covers them."""
        return self._namespaces

    def __enter__(self) -> "Mesh":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            self.finalize()
        else:
            lifecycle.abandon_all(error)

    def inject(self, resource_name: str, kind: str, metadata: Any, spec: Any) -> dict[str, Any]:
        """`metadata` and `spec` for one workload's constructor, with the sidecar: explicit
        injection, for programs that do not use `auto_inject`."""
        return injection.inject(self, resource_name, kind, metadata, spec)

    def auto_inject(self) -> None:
        """Inject the sidecar into every workload registered from now on in a managed
        namespace (unless it opts out): Pulumi's counterpart of a mutating webhook."""
        injection.register_auto_injection(self)

    def declare_service_account(
        self, namespace: str, name: str, resource: pulumi.Resource | None = None
    ) -> None:
        """A ServiceAccount the program makes where the mesh cannot see it (a resource
        constructed before the Mesh, a chart, another stack): the mesh creates none for it.
        `resource`, when given, is created before the identity's certificate."""
        self._declare(lambda: self._accounts.declare(Identity(namespace, name), resource))

    # Declarations, made by the components.

    def declare_service(self, document: Document) -> Service:
        return self._declare(lambda: self._declarations.add_service(document))

    def declare_split(self, document: Document) -> TrafficSplit:
        return self._declare(lambda: self._declarations.add_split(document))

    def declare_policy(self, document: Document) -> AccessPolicy:
        return self._declare(lambda: self._declarations.add_policy(document))

    def declare_destination(self, document: Document) -> Destination:
        return self._declare(lambda: self._declarations.add_destination(document))

    def declare_ingress(self, document: Document) -> Ingress:
        """Add an ingress entry; each of its identities is issued a certificate Secret."""
        entry = self._declare(lambda: self._declarations.add_ingress(document))
        for identity in entry.sources.identities:
            if identity not in self._secret_names:  # an unresolved Output would hang
                self._secret_names[identity] = Deferred()
        return entry

    def declare_egress(self, document: Document) -> EgressRule:
        return self._declare(lambda: self._declarations.add_egress(document))

    def declare_workload(self, workload: Workload) -> PendingBinding:
        """Add a workload; what its sidecar mounts is known once the mesh is finalized."""
        self._declare(lambda: self._declarations.add_workload(workload))
        if workload.identity not in self._secret_names:  # an unresolved Output would hang
            self._secret_names[workload.identity] = Deferred()
        secret = self._secret_names[workload.identity]
        binding = PendingBinding(self._updates is ConfigUpdates.HOT_RELOAD, secret)
        self._bindings[workload.ref] = binding
        return binding

    def _declare(self, add: Callable[[], T]) -> T:
        with lifecycle.settled_on_failure(), reported():
            if self.finalized:
                raise MeshValidationError([_declared_late(self.settings.name)])
            return add()

    # Finalization.

    def finalize(self) -> None:
        """Compile the mesh and create every proxy ConfigMap and identity. Idempotent."""
        if self.finalized:
            return
        self.finalized = True
        with lifecycle.settled_on_failure():
            self._finalize()

    def abandon(self, error: BaseException) -> None:
        """Settle every Output this mesh still owes with `error` (the program is failing)."""
        owed = [*self._outputs.values(), *self._secret_names.values()]
        for binding in self._bindings.values():
            owed.extend(binding.deferred)
        for deferred in owed:
            deferred.fail(error)

    def _finalize(self) -> None:
        hashes: dict[WorkloadRef, Emitted] = {}
        if self._bindings:
            compiled = self._compiled()
            hashes = {ref: self._emit_config(compiled, ref) for ref in self._bindings}
        # else: a stack that runs no workload emits no proxy config. It declares for other
        # stacks (a platform stack's policies name their services and identities), so the
        # mesh as a whole is checked where it compiles: in the stacks that import it.
        workloads = self._declarations.workloads
        self._accounts.make((w.identity for w in workloads), self._child_in)
        trust = self._trust()
        expiry = {who: self._emit_identity(trust, who) for who in sorted(self._secret_names)}
        self._publish(hashes, expiry, trust)

    def _compiled(self) -> pulumi.Output[BudgetedMesh]:
        """Compiled now when the mesh is all here (errors surface at once), else once the
        other stacks' declarations arrive. Each of this stack's proxy configs is measured
        against the ConfigMap budget as it is emitted (`pipeline.budget`)."""
        if not self._imports:
            with reported():
                compiled = build_within_budget(self._declarations.spec(), checked=self._bindings)
            return pulumi.Output.from_input(0).apply(lambda _: compiled)
        return pulumi.Output.all(*self._imports).apply(self._compile_with)

    def _compile_with(self, imported: list[Document]) -> BudgetedMesh:
        with reported():
            return build_within_budget(self._declarations.merged(imported), checked=self._bindings)

    def _emit_config(self, compiled: pulumi.Output[BudgetedMesh], ref: WorkloadRef) -> Emitted:
        options = self._child_in(ref.namespace)
        emitted = emission.proxy_config(compiled, self.settings, ref, self._updates, options)
        binding = self._bindings[ref]
        binding.config_map.resolve(emitted.name)
        if binding.digest is not None:
            binding.digest.resolve(emitted.digest)
        return emitted

    def _trust(self) -> pulumi.Output[MeshTrust] | None:
        if not needs_authority(self.settings):
            return None
        policy = CertificatePolicy.of(self.settings.certificates)
        domain = self.settings.trust_domain
        return pulumi.Output.from_input(self._ca).apply(
            lambda text: _parsed_trust(str(text), domain, policy)
        )

    def _emit_identity(
        self, trust: pulumi.Output[MeshTrust] | None, who: Identity
    ) -> pulumi.Output[str]:
        options = self._child_in(who.namespace, self._accounts.of(who))
        if trust is None:
            emitted = emission.identity_certificate_of(self.settings, who, self._now, options)
            self._secret_names[who].resolve(emitted.name)
            return pulumi.Output.from_input("")
        issued = emission.issue(trust, who, self._now)
        emitted = emission.identity_secret_of(issued, self.settings, who, self._updates, options)
        self._secret_names[who].resolve(emitted.name)
        return pulumi.Output.unsecret(issued.apply(lambda cert: cert.not_after.isoformat()))

    def _publish(
        self,
        hashes: dict[WorkloadRef, Emitted],
        expiry: dict[Identity, pulumi.Output[str]],
        trust: pulumi.Output[MeshTrust] | None,
    ) -> None:
        bundle = (
            pulumi.Output.from_input("")
            if trust is None
            else pulumi.Output.unsecret(trust.apply(lambda t: t.bundle(self._now).pem.decode()))
        )
        values: dict[str, Any] = {
            "mesh_name": self.settings.name,
            "identities": [str(who) for who in sorted(self._secret_names)],
            "ca_bundle": bundle,
            "config_hashes": {str(ref): e.digest for ref, e in sorted(hashes.items())},
            "certificate_expiry": {
                str(who): when for who, when in expiry.items() if trust is not None
            },
            "declarations": self._declarations.document(),
        }
        for key, value in values.items():
            self._outputs[key].resolve(value)
        self.register_outputs({key: self._outputs[key].output for key in _OUTPUTS})

    def in_namespace(
        self, namespace: str, *, parent: pulumi.Resource | None = None
    ) -> pulumi.ResourceOptions:
        """Options for a resource in `namespace`, created after the namespace when this mesh
        manages it."""
        found = self.namespace_resources.get(namespace)
        depends_on = [found] if found is not None else None
        return pulumi.ResourceOptions(parent=parent, depends_on=depends_on)

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _child_in(
        self, namespace: str, after: pulumi.Resource | None = None
    ) -> pulumi.ResourceOptions:
        """A child of the mesh in `namespace`, created after it (and after `after`)."""
        found = (self.namespace_resources.get(namespace), after)
        depends_on = [resource for resource in found if resource is not None]
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on or None)


_OUTPUTS = (
    "mesh_name",
    "identities",
    "ca_bundle",
    "config_hashes",
    "certificate_expiry",
    "declarations",
)


def _config_updates(value: str) -> ConfigUpdates:
    try:
        return ConfigUpdates(value)
    except ValueError:
        allowed = ", ".join(mode.value for mode in ConfigUpdates)
        problem = Problem(
            "config_updates", "config-updates-invalid", f"one of {allowed}", repr(value)
        )
        raise MeshValidationError([problem]) from None


def _flag(args: MeshArgs, key: str) -> bool:
    """A yes-or-no argument of the Mesh, true unless given."""
    value = args.get(key, True)
    if isinstance(value, bool):
        return value
    problem = Problem(
        key, "spec-wrong-type", "a boolean", repr(value), f"make {key!r} True or False"
    )
    raise MeshValidationError([problem])


def _checked_ca(settings: MeshSettings, ca: pulumi.Input[str] | None) -> pulumi.Input[str]:
    if ca is not None or not needs_authority(settings):
        return ca or ""
    fix = (
        "pass ca=config.require_secret('ca') holding a CA file "
        "(python -m mesh_components render --new-ca writes one), or use cert-manager"
    )
    problem = Problem("ca", "ca-missing", "the mesh CA file's text, as a secret", "none", fix)
    raise MeshValidationError([problem])


def _parsed_trust(text: str, trust_domain: str, policy: CertificatePolicy) -> MeshTrust:
    with reported():
        return ca_file.parse(text, "mesh.ca").trust(trust_domain).with_policy(policy)


def _declared_late(mesh: str) -> Problem:
    return Problem(
        f"mesh[{mesh}]",
        "mesh-finalized",
        "declarations before the mesh is finalized",
        "a declaration after it",
        "declare every service, split, policy and workload inside the `with Mesh(...)` block, "
        "or before mesh.finalize()",
    )
