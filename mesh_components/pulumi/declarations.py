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
from mesh_components.pulumi import lifecycle
from mesh_components.pulumi.args import unknown_keys
from mesh_components.pulumi.errors import reported

_KEYS = {"target_port_name": "targetPort"}
_FREE_FORM = frozenset({"selector", "headers", "labels", "annotations", "env"})
_NOT_SPEC = frozenset(
    {"mesh", "namespaces", "create_namespaces", "create_service_accounts", "ca", "config_updates"}
)


def component_document(
    section: str, schema: Any, args: Mapping[str, Any], defaults: Document
) -> Document:
    """One component's arguments as its entry of `section` in the spec format, over `defaults`
    (its name). A key that `schema` does not name (a typo, or a spec file's camelCase spelling)
    is `spec-unknown-key`, at the path the spec loader gives that entry. Whatever fails here
    settles the program's pending Outputs, so the program ends with the problem at once."""
    with lifecycle.settled_on_failure(), reported():
        if not isinstance(args, Mapping):
            raise MeshValidationError([_not_arguments(section, args)])
        whole = {**defaults, **args}
        path = section if section == "mesh" else f"{section}[{_label(whole)}]"
        problems = unknown_keys(args, schema, path)
        if problems:
            raise MeshValidationError(problems)
        return {**defaults, **args_document(args)}


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


def _label(document: Mapping[str, Any]) -> object:
    """How the spec loader names an entry: by its name, else by its index (always 0 here)."""
    name = document.get("name")
    return name if isinstance(name, str) and name else 0


def _not_arguments(section: str, args: object) -> Problem:
    return Problem(
        section,
        "spec-wrong-type",
        "a dict of the component's arguments",
        type(args).__name__,
        "pass the arguments as a dict, e.g. {'namespace': 'shop', ...}",
    )
