"""How long `pulumi preview` and `pulumi up` take with the real CLI, engine and Kubernetes
provider (render mode), for the root program and the synthetic mesh at N services:
`python -m bench.engine [--services 100 1000]` after `make tools`.

Each figure is split into the program's time (its top-level code, where the mesh compiles) and
the rest, which is the engine's: the CLI starting, plugins loading, each resource's steps, the
provider writing manifests and the state being saved. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from mesh_components.pki import ca_file
from tests.engine import ROOT, Workspace, require_tools

BENCH_PROGRAM = ROOT / "bench" / "pulumi_program"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, nargs="*", default=[100, 1000])
    parser.add_argument(
        "--skip-checkpoints",
        action="store_true",
        help="PULUMI_SKIP_CHECKPOINTS=true: save the state once at the end, not after each step",
    )
    args = parser.parse_args()
    require_tools()
    ca = ca_file.text_of(ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC))))
    print("| program | operation | resources | total s | program s | engine s |")
    print("|---|---|---|---|---|---|")
    cases = [("root program (bookstore)", ROOT, {})]
    cases += [
        (f"{n} services", BENCH_PROGRAM, {"services": str(n), "mode": "policy"})
        for n in args.services
    ]
    for label, project, config in cases:
        with tempfile.TemporaryDirectory() as scratch:
            _measure(label, project, config, ca, Path(scratch), skip=args.skip_checkpoints)


def _measure(
    label: str, project: Path, config: dict[str, str], ca: str, scratch: Path, *, skip: bool
) -> None:
    workspace = Workspace(scratch, **({"PULUMI_SKIP_CHECKPOINTS": "true"} if skip else {}))
    for operation in ("preview", "up", "preview"):
        result = workspace.run(
            operation,
            project,
            config=config,
            secrets={"ca": ca},
            render_to=scratch / "out",
            timeout=3600,
        )
        assert result.ok, result.output[-2000:]
        resources = sum(result.changes.values())
        name = (
            "preview (no change)"
            if operation == "preview" and result.changes.get("same")
            else operation
        )
        engine = result.seconds - result.program_seconds
        print(
            f"| {label} | {name} | {resources} | {result.seconds:.1f} | "
            f"{result.program_seconds:.1f} | {engine:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
