"""The machine a benchmark ran on: CPU, cores, memory, kernel, Python, Envoy, and its load."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from mesh_components.pipeline.envoy_check import find_envoy


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_meminfo_kib("MemTotal") / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "envoy": _envoy_version(),
        "load_before": load(),
    }


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work shares this machine."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_kib(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _envoy_version() -> str:
    envoy = find_envoy()
    if envoy is None:
        return "not installed"
    found = subprocess.run([str(envoy), "--version"], capture_output=True, text=True, check=False)
    words = found.stdout.split()
    return next((w for w in words if "/" in w and w[0].isalnum()), found.stdout.strip()[:80])
