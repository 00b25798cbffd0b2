"""What a program declared in one mesh, checked as each declaration arrives.

Component arguments are converted to the spec format and read by the spec loader, so a program
and a spec file are held to the same rules and report problems at the same paths. The whole
mesh is validated once more when it is compiled, with the declarations of other stacks merged in.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import (
    AccessPolicy,
    Destination,
    EgressRule,
    Ingress,
    MeshSettings,
    MeshSpec,
    Service,
    TrafficSplit,
    Workload,
)
from mesh_components.model.loader import load_spec
from mesh_components.model.writer import Document, camel, settings_document, spec_document

_KEYS = {"target_port_name": "targetPort"}
_FREE_FORM = frozenset({"selector", "headers", "labels", "annotations", "env"})
_NOT_SPEC = frozenset({"mesh", "namespaces", "create_namespaces", "ca", "config_updates"})


def args_document(args: Mapping[str, Any]) -> Document:
    """Component arguments as the spec format: `target_port` → `targetPort`, maps kept."""
    found: Document = {}
    for key, value in args.items():
        if key in _NOT_SPEC:
            continue
        name = _KEYS.get(key, camel(key))
        found[name] = value if key in _FREE_FORM else _converted(value)
    return found


def _converted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return args_document(value)
    if isinstance(value, list | tuple):
        return [_converted(item) for item in value]
    return value


class Declarations:
    """One mesh's settings and declarations, in the order they were made."""

    def __init__(self, settings: Document) -> None:
        self.settings: MeshSettings = load_spec({"mesh": settings}).settings
        self.services: list[Service] = []
        self.splits: list[TrafficSplit] = []
        self.policies: list[AccessPolicy] = []
        self.workloads: list[Workload] = []
        self.destinations: list[Destination] = []
        self.ingress: list[Ingress] = []
        self.egress: list[EgressRule] = []

    def add_service(self, document: Document) -> Service:
        (service,) = self._load("services", document).services
        self.services.append(service)
        return service

    def add_split(self, document: Document) -> TrafficSplit:
        (split,) = self._load("splits", document).splits
        self.splits.append(split)
        return split

    def add_policy(self, document: Document) -> AccessPolicy:
        (policy,) = self._load("policies", document).policies
        self.policies.append(policy)
        return policy

    def add_destination(self, document: Document) -> Destination:
        (destination,) = self._load("destinations", document).destinations
        self.destinations.append(destination)
        return destination

    def add_ingress(self, document: Document) -> Ingress:
        (entry,) = self._load("ingress", document).ingress
        self.ingress.append(entry)
        return entry

    def add_egress(self, document: Document) -> EgressRule:
        (rule,) = self._load("egress", document).egress
        self.egress.append(rule)
        return rule

    def add_workload(self, workload: Workload) -> None:
        if any(w.ref == workload.ref for w in self.workloads):
            raise MeshValidationError([_duplicate_workload(workload)])
        self.workloads.append(workload)

    def spec(self) -> MeshSpec:
        """Everything declared here, not yet validated as a whole."""
        return MeshSpec(
            self.settings,
            tuple(self.services),
            tuple(self.workloads),
            tuple(self.splits),
            tuple(self.policies),
            tuple(self.destinations),
            ingress=tuple(self.ingress),
            egress=tuple(self.egress),
        )

    def document(self) -> Document:
        """The declarations in the spec format, for other stacks to import."""
        return spec_document(self.spec())

    def merged(self, imported: Sequence[Document]) -> MeshSpec:
        """This stack's declarations plus other stacks' (same settings), for compiling."""
        own, mine = self.spec(), settings_document(self.settings)
        others = [load_spec(document) for document in imported]
        problems = [
            _settings_mismatch(i, mine, settings_document(other.settings))
            for i, other in enumerate(others)
            if other.settings != self.settings
        ]
        if problems:
            raise MeshValidationError(problems)
        return replace(
            own,
            services=own.services + tuple(s for o in others for s in o.services),
            workloads=own.workloads + tuple(w for o in others for w in o.workloads),
            splits=own.splits + tuple(s for o in others for s in o.splits),
            policies=own.policies + tuple(p for o in others for p in o.policies),
            destinations=own.destinations + tuple(d for o in others for d in o.destinations),
            ingress=own.ingress + tuple(i for o in others for i in o.ingress),
            egress=own.egress + tuple(r for o in others for r in o.egress),
        )

    def _load(self, section: str, document: Document) -> MeshSpec:
        return load_spec({"mesh": {"name": self.settings.name}, section: [document]})


def _duplicate_workload(workload: Workload) -> Problem:
    return Problem(
        f"workloads[{workload.ref}]",
        "workload-duplicate",
        "one workload of each name per namespace",
        "a second one",
        "give the workload another name, or inject it once",
    )


def _settings_mismatch(index: int, mine: Document, theirs: Document) -> Problem:
    return Problem(
        f"imports[{index}].mesh",
        "import-settings-mismatch",
        f"the same mesh settings as this stack's ({mine})",
        str(theirs),
        "declare the mesh with the same settings in every stack (share them from one stack)",
    )
