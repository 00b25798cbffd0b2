"""`render PATH` for a Pulumi project: record the program, write its Kubernetes objects as
manifests and its exports to `stack-outputs` (mode 0600: it is the one file that holds
secret outputs). Nothing secret is printed: only counts and names.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.pipeline.output import write_tree
from mesh_components.pki import ca_file
from mesh_components.recording import stack_outputs
from mesh_components.recording.config import parse_overrides
from mesh_components.recording.engine import record
from mesh_components.recording.manifests import kubernetes_objects, manifest_tree, unknown_fields
from mesh_components.recording.recording import Recording, Severity

STACK_OUTPUTS_FILE = "stack-outputs"
"""JSON, without the extension: `kubectl apply -R -f DIR` reads every .json, .yaml and .yml
file under DIR, and this one is no Kubernetes object."""
CA_CONFIG_KEY = "ca"
"""The config key `--ca-file` fills: the one the root program and the examples read."""
DEFAULT_STACK = "dev"


def render_program(args: argparse.Namespace) -> int:
    """Run `render` on the Pulumi project at `args.spec`."""
    new_ca, config = _with_ca_config(args, parse_overrides(args.config))
    recording = record(
        args.spec,
        stack=args.stack or DEFAULT_STACK,
        config=config,
        preview=args.preview,
        stack_references=parse_references(args.stack_reference),
        timeout=args.timeout,
    )
    failed = _print_log(recording)
    if failed:
        return failed
    objects = kubernetes_objects(recording)
    files = manifest_tree(objects)
    files[STACK_OUTPUTS_FILE] = outputs_text(recording)
    if new_ca is not None:  # before the output: its certificates come from this CA
        ca_file.save(args.ca_file, new_ca)
        print(f"created a new mesh CA in {args.ca_file}: keep it secret, never commit it")
    write_tree(args.output, files)
    (args.output / STACK_OUTPUTS_FILE).chmod(0o600)
    for line in unknown_fields(objects):
        print(f"preview: unknown until the update: {line}", file=sys.stderr)
    secret = len(recording.exports.secret_names())
    print(
        f"wrote {len(objects)} Kubernetes objects to {args.output}, and "
        f"{len(recording.exports.values)} stack outputs ({secret} secret) to "
        f"{args.output / STACK_OUTPUTS_FILE}"
    )
    return 0


def outputs_text(recording: Recording) -> str:
    """The stack outputs file (see `stack_outputs`)."""
    return json.dumps(stack_outputs.document(recording.exports), indent=2, sort_keys=True) + "\n"


def parse_references(pairs: Sequence[str]) -> dict[str, Path]:
    """`["NAME=FILE", ...]` (the `--stack-reference` flags) as {stack name: file}."""
    found: dict[str, Path] = {}
    problems = []
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not name or not file:
            fix = "write --stack-reference ORG/PROJECT/STACK=FILE (the name the program uses)"
            problems.append(
                Problem("--stack-reference", "stack-reference-flag", "NAME=FILE", repr(pair), fix)
            )
        found[name] = Path(file)
    if problems:
        raise MeshValidationError(problems)
    return found


def _with_ca_config(
    args: argparse.Namespace, config: dict[str, str]
) -> tuple[ca_file.CaFile | None, dict[str, str]]:
    """`--ca-file` gives the program its `ca` config (the CA file's text), as
    `pulumi config set --secret ca "$(cat FILE)"` does for `pulumi up`. With `--new-ca` the
    file is created, and written only once the render succeeded."""
    if args.ca_file is None:
        if args.new_ca:
            fix = "pass --ca-file PATH with --new-ca: the new CA is written there"
            problem = Problem("--new-ca", "ca-file-missing", "--ca-file PATH", "none", fix)
            raise MeshValidationError([problem])
        return None, config
    if CA_CONFIG_KEY in config:
        fix = "pass the CA once: either --ca-file or --config ca=..."
        problem = Problem("--ca-file", "ca-given-twice", "one CA", "--ca-file and --config ca", fix)
        raise MeshValidationError([problem])
    if args.new_ca:
        ca_file.check_new(args.ca_file)
        state = ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))
        return state, {**config, CA_CONFIG_KEY: ca_file.text_of(state)}
    text = ca_file.text_of(ca_file.load(args.ca_file))
    return None, {**config, CA_CONFIG_KEY: text}


def _print_log(recording: Recording) -> int:
    """Print what the program logged at warning or error level; 2 if it logged an error."""
    errors = 0
    for message in recording.log:
        if message.severity in (Severity.WARNING, Severity.ERROR):
            where = f" ({message.urn})" if message.urn else ""
            print(f"{message.severity.value}: {message.message}{where}", file=sys.stderr)
            errors += message.severity is Severity.ERROR
    if errors:
        print(f"error: the program logged {errors} error(s); nothing written", file=sys.stderr)
        return 2
    return 0
