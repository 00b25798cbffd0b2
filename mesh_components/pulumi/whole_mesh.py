"""MeshFromSpec: a whole mesh in one component, as a spec file declares it.

Programs in other languages use the components through Pulumi's component provider, where each
component is constructed on its own and nothing marks the end of the program: a Mesh there could
never know that its declarations are complete. This component takes them all at once, writes
the workloads in full (as `render` does) with their sidecars, and finalizes before it returns.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pulumi

from mesh_components.emit.kubernetes import accounts
from mesh_components.emit.kubernetes.workloads import workload_manifest
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import Identity, Service, Workload
from mesh_components.model.loader import load_spec
from mesh_components.pulumi import lifecycle, resources
from mesh_components.pulumi.args import MeshFromSpecArgs, unknown_keys
from mesh_components.pulumi.declarations import args_document
from mesh_components.pulumi.egress import EgressRule
from mesh_components.pulumi.errors import reported
from mesh_components.pulumi.mesh import Mesh
from mesh_components.pulumi.service import MeshService
from mesh_components.pulumi.traffic import (
    AccessPolicy,
    DestinationSettings,
    MeshIngress,
    TrafficSplit,
)

TYPE = "mesh-components:index:MeshFromSpec"


class MeshFromSpec(pulumi.ComponentResource):
    """A whole mesh (settings, services, workloads, splits, policies, destination settings,
    ingress and egress rules) in one declaration."""

    mesh_name: pulumi.Output[str]
    """The mesh's name."""
    identities: pulumi.Output[list[str]]
    """Every identity (`<namespace>/<service account>`)."""
    ca_bundle: pulumi.Output[str]
    """The CA certificates sidecars trust (PEM)."""
    config_hashes: pulumi.Output[dict[str, str]]
    """Per workload, the digest of its proxy config."""
    certificate_expiry: pulumi.Output[dict[str, str]]
    """Per identity, when its certificate expires."""

    def __init__(
        self,
        name: str,
        args: MeshFromSpecArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        now: datetime | None = None,
    ) -> None:
        """`now`: the instant certificates are issued for (the clock by default)."""
        super().__init__(TYPE, name, None, opts)
        args = _from_wire(args)
        _check_shape(args)
        settings = args["mesh"]
        mesh_name = settings.get("name", name)
        child = pulumi.ResourceOptions(parent=self)
        mesh = Mesh(mesh_name, settings, child, now=now, finalize_at_end=False)
        services = [
            MeshService(s.get("name", ""), s, child, mesh=mesh_name).declared
            for s in args.get("services", [])
        ]
        for split in args.get("splits", []):
            TrafficSplit(split.get("name", ""), split, child, mesh=mesh_name)
        for policy in args.get("policies", []):
            AccessPolicy(policy.get("name", ""), policy, child, mesh=mesh_name)
        for destination in args.get("destinations", []):
            DestinationSettings(_destination_name(destination), destination, child, mesh=mesh_name)
        for entry in args.get("ingress", []):
            MeshIngress(entry.get("name", ""), entry, child, mesh=mesh_name)
        for rule in args.get("egress", []):
            EgressRule(rule.get("name", ""), rule, child, mesh=mesh_name)
        identities: set[Identity] = set()
        create_accounts = settings.get("create_service_accounts", True)
        for workload in _workloads(mesh_name, args.get("workloads", [])):
            if (
                create_accounts
                and workload.identity not in identities
                and accounts.mesh_owns(workload.identity)
            ):
                identities.add(workload.identity)
                account = accounts.service_account(mesh_name, workload.identity)
                made = resources.service_account(
                    account, mesh.in_namespace(workload.namespace, parent=self)
                )
                mesh.declare_service_account(workload.namespace, workload.service_account, made)
            self._workload(mesh, workload, services)
        mesh.finalize()
        self.mesh_name = mesh.mesh_name
        self.identities = mesh.identities
        self.ca_bundle = mesh.ca_bundle
        self.config_hashes = mesh.config_hashes
        self.certificate_expiry = mesh.certificate_expiry
        self.register_outputs({key: getattr(self, key) for key in _OUTPUTS})

    def _workload(self, mesh: Mesh, workload: Workload, services: list[Service]) -> None:
        options = mesh.in_namespace(workload.namespace, parent=self)
        manifest = workload_manifest(workload, _governing(services, workload), mesh.settings.name)
        injected = mesh.inject(
            workload.name, manifest["kind"], manifest["metadata"], manifest["spec"]
        )
        resources.workload(
            {**manifest, "metadata": injected["metadata"]}, injected["spec"], options
        )


_OUTPUTS = ("mesh_name", "identities", "ca_bundle", "config_hashes", "certificate_expiry")


def _from_wire(value: Any) -> Any:
    """Pulumi's wire format has only one number type, a double: a port of 80 written in YAML or
    TypeScript reaches the provider as 80.0. Whole numbers become ints again; any other number
    stays as it came, for validation to refuse where an integer is expected."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_wire(item) for item in value]
    return value


_SECTIONS = ("services", "workloads", "splits", "policies", "destinations", "ingress", "egress")


def _check_shape(args: Any) -> None:
    """The whole mesh's shape and every key, at once, before anything is declared: a section
    that is not a list of mappings, a typo or a camelCase name anywhere is an error that names
    its path."""
    with lifecycle.settled_on_failure(), reported():
        problems = list(_shape_problems(args)) or unknown_keys(args, MeshFromSpecArgs, "")
        if problems:
            raise MeshValidationError(problems)


def _shape_problems(args: Any) -> Iterator[Problem]:
    if not isinstance(args, dict):
        yield Problem("args", "spec-wrong-type", "a mapping of the whole mesh", _kind(args))
        return
    if not isinstance(args.get("mesh"), dict):
        found = _kind(args["mesh"]) if "mesh" in args else "nothing"
        fix = "add 'mesh' with the mesh's settings, `name` among them"
        yield Problem("mesh", "spec-wrong-type", "a mapping of settings", found, fix)
    for section in _SECTIONS:
        entries = args.get(section, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            fix = f"make {section!r} a list of mappings, one per entry"
            yield Problem(section, "spec-wrong-type", "a list of mappings", _kind(entries), fix)


def _kind(value: Any) -> str:
    if not isinstance(value, list):
        return type(value).__name__
    odd = next((item for item in value if not isinstance(item, dict)), None)
    return f"a list holding a {type(odd).__name__}"


def _workloads(mesh: str, declared: list[Any]) -> tuple[Workload, ...]:
    documents = [args_document(workload) for workload in declared]
    with reported():
        return load_spec({"mesh": {"name": mesh}, "workloads": documents}).workloads


def _governing(services: list[Service], workload: Workload) -> Service | None:
    """A StatefulSet's governing Service: a headless one that selects it, else the first."""
    selecting = [
        s for s in services if s.namespace == workload.namespace and s.selects(workload.labels)
    ]
    headless = [s for s in selecting if s.headless]
    candidates = headless or selecting
    return candidates[0] if candidates else None


def _destination_name(destination: Any) -> str:
    """A resource name unique among the entries: one service may have several (per port)."""
    service, port = destination.get("service", ""), destination.get("port")
    return service if port is None else f"{service}-{port}"
