"""The benchmark's Markdown report: the machine, the targets, then one table per measurement."""

from __future__ import annotations

import time
from typing import Any


def markdown(report: dict[str, Any], images: list[str]) -> str:
    lines = _header(report) + _targets(report) + _compile(report) + _envoy(report)
    lines += _incremental(report) + _render(report) + _dataplane(report)
    lines += ["## Plots", ""] + [f"![{name}]({name})" for name in images]
    return "\n".join(lines) + "\n"


def _header(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    return [
        "# Scale benchmark",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m bench.run`;",
        f"median (min-max) of {report['repeats']} runs. Synthetic meshes: N services, "
        "2 workloads each;",
        "policy mode gives each workload about 10 dependencies, open mode is a full mesh.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}, Envoy {m['envoy']}. "
        f"Load average (1, 5, 15 min) {m['load_before']} before and "
        f"{m.get('load_after', '?')} after: other work shared the cores.",
        "",
    ]


def _targets(report: dict[str, Any]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
    for t in report["targets"]:
        verdict = "n/a" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        lines.append(f"| {t['target']} | {t['measured']} | {verdict} |")
    return [*lines, ""]


def _compile(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Compile and emit",
        "",
        "Wall and CPU seconds of validate + compile + emit + YAML for every workload, and "
        "`json.dumps` of the same documents (CPU).",
        "",
        "| mode | services | workloads | compile+emit s | CPU s | json.dumps CPU s "
        "| peak RSS MiB | config KiB median / max | total MiB | over budget |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["compile"]:
        workloads = str(row["workloads"])
        if row["sampled"]:
            workloads += f" ({row['sampled']} sampled)"
        lines.append(
            f"| {row['mode']} | {row['services']} | {workloads} "
            f"| {_cell(row['compile_emit_s'])} | {_cell(row['compile_emit_cpu_s'])} "
            f"| {_cell(row['json_dumps_cpu_s'])} | {_cell(row['peak_rss_mib'], 0)} "
            f"| {row['bytes_median'] / 1024:.1f} / {row['bytes_max'] / 1024:.1f} "
            f"| {row['bytes_total'] / 2**20:.1f} | {row['over_budget']} |"
        )
    return [*lines, ""]


def _envoy(report: dict[str, Any]) -> list[str]:
    if not report["envoy"]:
        return []
    lines = [
        "## The real Envoy",
        "",
        "`envoy --mode validate` of the median config, and VmRSS (which counts the mapped "
        "binary, about 50 MiB) once Envoy serves the median and the largest config.",
        "",
        "| mode | services | validate s | RSS MiB median config | RSS MiB largest config |",
        "|---|---|---|---|---|",
    ]
    for row in report["envoy"]:
        lines.append(
            f"| {row['mode']} | {row['services']} | {row['validate_median_s']:.2f} "
            f"| {_mib(row['rss_median_kib'])} | {_mib(row['rss_largest_kib'])} |"
        )
    return [*lines, ""]


def _incremental(report: dict[str, Any]) -> list[str]:
    changed = report["incremental"]
    return [
        "## Incremental work",
        "",
        f"In a {changed['services']}-service mesh, changing one split's weights changes "
        f"{changed['changed']} of {changed['workloads']} proxy ConfigMaps; "
        f"{changed['callers']} workloads may call the split service "
        f"({'the same set' if changed['same_as_callers'] else 'NOT the same set'}).",
        "",
    ]


def _render(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Pulumi render (recording engine)",
        "",
        "The synthetic mesh as a Pulumi program (`bench/pulumi_program`), run in-process "
        "under the recording engine and turned into manifests, as `render` does.",
        "",
        "| services | wall s | record s | objects | MiB written | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["render"]:
        lines.append(
            f"| {row['services']} | {row['render_s']:.1f} | {row['record_s']:.1f} "
            f"| {row['objects']} | {row['bytes'] / 2**20:.1f} | {row['peak_rss_kib'] / 1024:.0f} |"
        )
    return [*lines, ""]


def _dataplane(report: dict[str, Any]) -> list[str]:
    found = report.get("dataplane") or {}
    if "percentiles" not in found:
        return ["## Data plane", "", f"Skipped: {found.get('skipped', 'not run')}.", ""]
    lines = [
        "## Data plane",
        "",
        "One local cluster, three client/server pairs, the same stub app and client; rounds "
        "interleaved. A new connection per request from the app; the sidecars pool theirs.",
        "",
        "| variant | p50 ms | p99 ms | requests |",
        "|---|---|---|---|",
    ]
    for variant, numbers in found["percentiles"].items():
        lines.append(
            f"| {variant} | {numbers['p50']:.3f} | {numbers['p99']:.3f} | {numbers['count']} |"
        )
    lines += ["", "| sidecar | VmRSS MiB | RssAnon MiB | RssFile MiB |", "|---|---|---|---|"]
    for who, memory in found["memory_kib"].items():
        lines.append(
            f"| {who} | {memory['VmRSS'] / 1024:.1f} | {memory['RssAnon'] / 1024:.1f} "
            f"| {memory['RssFile'] / 1024:.1f} |"
        )
    return [*lines, ""]


def _cell(spread: dict[str, float], digits: int = 2) -> str:
    return f"{spread['median']:.{digits}f} ({spread['min']:.{digits}f}-{spread['max']:.{digits}f})"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"
