"""The report's plots: compile time and peak memory against mesh size, config bytes per
workload against mesh size in policy and open mode, and the data plane's latency
distributions. Skipped, with a note, without matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(report: dict[str, Any], out: Path) -> list[str]:
    """The PNG files written into `out`."""
    try:
        import matplotlib  # noqa: PLC0415 (optional: the bench extra)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("plots: skipped, matplotlib is not installed (pip install -e '.[bench]')")
        return []
    written = []
    for name, key, label in (
        ("compile.png", "compile_emit_s", "compile + emit (s)"),
        ("memory.png", "peak_rss_mib", "peak RSS (MiB)"),
    ):
        figure, axes = plt.subplots(figsize=(6, 4))
        for mode in ("policy", "open"):
            rows = [r for r in report["compile"] if r["mode"] == mode and not r["sampled"]]
            axes.plot(
                [r["services"] for r in rows], [r[key]["median"] for r in rows], "o-", label=mode
            )
        _finish(axes, label)
        figure.savefig(out / name, dpi=100)
        plt.close(figure)
        written.append(name)
    figure, axes = plt.subplots(figsize=(6, 4))
    for mode in ("policy", "open"):
        rows = [r for r in report["compile"] if r["mode"] == mode]
        axes.plot(
            [r["services"] for r in rows],
            [r["bytes_median"] / 1024 for r in rows],
            "o-",
            label=f"{mode}, median",
        )
        axes.plot(
            [r["services"] for r in rows],
            [r["bytes_max"] / 1024 for r in rows],
            "x--",
            label=f"{mode}, max",
        )
    _finish(axes, "config per workload (KiB)")
    figure.savefig(out / "bytes.png", dpi=100)
    plt.close(figure)
    written.append("bytes.png")
    latency = (report.get("dataplane") or {}).get("latency_ms")
    if latency:
        figure, axes = plt.subplots(figsize=(6, 4))
        for variant, samples in latency.items():
            ordered = sorted(samples)
            share = [(i + 1) / len(ordered) for i in range(len(ordered))]
            axes.plot(ordered, share, label=variant)
        axes.set_xscale("log")
        axes.set_xlabel("latency per request (ms), new connection from the app")
        axes.set_ylabel("share of requests at or below")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        figure.savefig(out / "latency.png", dpi=100)
        plt.close(figure)
        written.append("latency.png")
    return written


def _finish(axes: Any, label: str) -> None:
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("services (2 workloads each)")
    axes.set_ylabel(label)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
