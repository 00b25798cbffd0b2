"""Run one Pulumi operation on a Python project with the real CLI and engine (Automation API).

The CLI, the engine, the file backend and the Kubernetes provider are the real ones, built by
`make tools`. The program runs in this process under the Python SDK's own language runtime
server, which the CLI reaches through `--client`: the Go language host (`pulumi-language-python`)
is not served by the Go module proxy here, so a project's `__main__.py` is run exactly as that
host would run it, with `runpy`, from the project's directory.

    python tests/engine_driver.py up --project . --stack dev --work W --result R.json \
        --config bookstoreV2Weight=90 --secret ca=@ca.secret.yaml

It writes the CLI's output as it comes, and a JSON summary to --result.
"""

import argparse
import json
import os
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

OPERATIONS = ("preview", "up", "destroy")


def main() -> int:
    args = _parser().parse_args()
    project = Path(args.project).resolve()
    stack = _stack(project, args)
    _configure(stack, args)
    started = time.perf_counter()
    result = _run(stack, args)
    result["seconds"] = time.perf_counter() - started
    result["program_seconds"] = sum(PROGRAM_SECONDS)
    Path(args.result).write_text(json.dumps(result, indent=2, sort_keys=True))
    return 0 if result["ok"] else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("operation", choices=OPERATIONS)
    parser.add_argument("--project", required=True, help="a directory holding Pulumi.yaml")
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--work", required=True, help="the workspace: stack config files")
    parser.add_argument("--result", required=True, help="where the JSON summary goes")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE|@FILE")
    parser.add_argument("--diff", action="store_true", help="preview: a rich diff")
    parser.add_argument("--json", action="store_true", help="preview: the JSON output")
    parser.add_argument(
        "--local",
        action="store_true",
        help="run the project through its runtime's language host (a YAML program), not inline",
    )
    return parser


PROGRAM_SECONDS: list[float] = []


def _program(project: Path) -> Callable[[], None]:
    """The project's `__main__.py`, run as the Go language host runs it; its top-level code's
    wall time (where the mesh compiles) is kept for the summary."""

    def run() -> None:
        os.chdir(project)
        if str(project) not in sys.path:
            sys.path.insert(0, str(project))
        started = time.perf_counter()
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")
        PROGRAM_SECONDS.append(time.perf_counter() - started)

    return run


def _stack(project: Path, args: argparse.Namespace) -> auto.Stack:
    if args.local:
        return _local_stack(project, args)
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    settings = auto.ProjectSettings(name=name, runtime="python")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work),
        project_settings=settings,
        pulumi_command=auto.PulumiCommand(root=os.environ["PULUMI_TOOLS_ROOT"]),
        env_vars=dict(os.environ),
    )
    return auto.create_or_select_stack(
        args.stack, project_name=name, program=_program(project), opts=options
    )


def _local_stack(project: Path, args: argparse.Namespace) -> auto.Stack:
    """A program the CLI runs through its language host, as `pulumi up` in PROJECT would."""
    options = auto.LocalWorkspaceOptions(
        pulumi_command=auto.PulumiCommand(root=os.environ["PULUMI_TOOLS_ROOT"]),
        env_vars=dict(os.environ),
    )
    return auto.create_or_select_stack(args.stack, work_dir=str(project), opts=options)


def _configure(stack: auto.Stack, args: argparse.Namespace) -> None:
    """The stack's config is exactly what this call names: as `pulumi config set` and
    `pulumi config rm` would leave it."""
    values = {key: auto.ConfigValue(value) for key, value in _pairs(args.config)}
    for key, value in _pairs(args.secret):
        text = Path(value[1:]).read_text() if value.startswith("@") else value
        values[key] = auto.ConfigValue(text, secret=True)
    stale = [key for key in stack.get_all_config() if key not in values]
    if stale:
        stack.remove_all_config(stale)
    if values:
        stack.set_all_config(values)


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in items]  # type: ignore[misc]


def _run(stack: auto.Stack, args: argparse.Namespace) -> dict[str, Any]:
    echo = {"on_output": print, "on_error": lambda text: print(text, file=sys.stderr)}
    try:
        if args.operation == "preview":
            preview = stack.preview(diff=args.diff, json=args.json, color="never", **echo)
            return _summary(True, preview.stdout, preview.stderr, preview.change_summary)
        if args.operation == "up":
            up = stack.up(color="never", **echo)
            return _summary(True, up.stdout, up.stderr, up.summary.resource_changes)
        destroy = stack.destroy(color="never", **echo)
        return _summary(True, destroy.stdout, destroy.stderr, destroy.summary.resource_changes)
    except auto.CommandError as error:
        return _summary(False, "", str(error), {})


def _summary(ok: bool, stdout: str, stderr: str, changes: Any) -> dict[str, Any]:
    counts = {str(getattr(kind, "value", kind)): n for kind, n in (changes or {}).items()}
    return {"ok": ok, "stdout": stdout, "stderr": stderr, "changes": counts}


if __name__ == "__main__":
    sys.exit(main())
