"""`import DIR -o OUT`: Kubernetes manifests and SMI resources to a mesh spec and a Pulumi program.

OUT gets `mesh.yaml` (the spec), `__main__.py` and `Pulumi.yaml` (the same mesh as a Pulumi
program) and `manifests.yaml` (the input's own objects, for `inject --mesh OUT/mesh.yaml`; the
workloads OSM would not have injected carry the mesh's opt-out annotation).
Notes about what was not carried over go to stderr.
"""

from __future__ import annotations

import argparse
import sys

from mesh_components import yamltext
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.model import AccessMode
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.manifests import to_yaml
from mesh_components.pipeline.output import write_tree
from mesh_components.smi.documents import Document
from mesh_components.smi.imported import ImportedMesh, Note
from mesh_components.smi.importer import read_manifest_dir
from mesh_components.smi.program import program_files
from mesh_components.smi.workloads import is_workload, opted_out
from mesh_components.terminal.parser import (
    Commands,
    add_namespace_argument,
    add_output_path,
    add_verb,
)
from mesh_components.terminal.redact import printable

_DETAILS = """\
PATH gets mesh.yaml (the spec), __main__.py and Pulumi.yaml (the same mesh as a Pulumi
program) and manifests.yaml (the input's own objects, for `inject --mesh PATH/mesh.yaml`; the
workloads OSM would not have injected carry the mesh's opt-out annotation). Notes about what
was not carried over go to stderr."""

SPEC = "mesh.yaml"
MANIFESTS = "manifests.yaml"

EXAMPLES = """
python -m mesh_components import osm-manifests/ -o imported/ \\
    --namespaces bookstore,bookbuyer,bookthief,bookwarehouse --access policy
cat smi/*.yaml | python -m mesh_components import - -o imported/
"""


def add_commands(commands: Commands) -> None:
    """Add `import` to the CLI's subcommands."""
    parser = add_verb(
        commands,
        "import",
        "turn Kubernetes manifests and SMI resources into a spec and a Pulumi program",
        EXAMPLES,
        details=_DETAILS,
    )
    parser.add_argument("source", help="a directory of manifests (read recursively), a file, or -")
    add_output_path(parser, "the output directory (replaced whole)")
    parser.add_argument(
        "--namespaces",
        type=_names,
        help="comma-separated namespaces in the mesh (default: the Namespaces' OSM annotations)",
    )
    add_namespace_argument(parser)
    parser.add_argument("--mesh-name", help="the mesh's name (default: monitored-by label, or osm)")
    parser.add_argument(
        "--access",
        choices=[mode.value for mode in AccessMode],
        help="open (OSM's permissive mode) or policy (SMI mode); overrides the MeshConfig",
    )
    parser.set_defaults(run=_import)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _import(args: argparse.Namespace) -> int:
    """Nothing is written unless the whole import succeeded."""
    access = None if args.access is None else AccessMode(args.access)
    imported = read_manifest_dir(
        args.source,
        args.namespaces,
        mesh_name=args.mesh_name,
        access=access,
        namespace=args.namespace,
    )
    files, notes = output_files(imported)
    write_tree(args.output, files)
    for note in sorted({*imported.notes, *notes}):
        print(printable(f"note: {note}"), file=sys.stderr)  # notes quote the input
    spec = imported.spec
    print(
        f"imported {len(spec.services)} services, {len(spec.workloads)} workloads, "
        f"{len(spec.splits)} splits and {len(spec.policies)} policies to {args.output}"
    )
    return 0


def injectable_manifests(imported: ImportedMesh) -> list[Json]:
    """The input's objects, each workload outside the mesh carrying the mesh's opt-out
    annotation: `inject` adds a sidecar to every workload it is given that does not opt out."""
    return [
        m if i in imported.meshed or not is_workload(Document("", m)) else opted_out(m)
        for i, m in enumerate(imported.manifests)
    ]


def output_files(imported: ImportedMesh) -> tuple[dict[str, str], tuple[Note, ...]]:
    """Every file `import` writes, and the notes of the Pulumi program."""
    program, notes = program_files(imported)
    manifests = "---\n".join(to_yaml(m) for m in injectable_manifests(imported))
    spec = yamltext.dump(spec_document(imported.spec), sort_keys=False)
    return {SPEC: spec, MANIFESTS: manifests, **program}, notes
