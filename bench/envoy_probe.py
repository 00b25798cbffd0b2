"""What the real Envoy costs for one config: `--mode validate` time, and resident memory once
it serves the config (run in a throwaway network namespace, so its ports collide with nothing)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

READY_LINE = "starting main dispatch loop"


def validate_seconds(envoy: Path, config: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config)], capture_output=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"envoy rejected {config}: {result.stderr.decode()[-500:]}")
    return elapsed


def resident_kib(envoy: Path, config: Path, namespace: str) -> int | None:
    """Envoy's VmRSS after it started serving `config`; None when not root (printed why)."""
    if os.geteuid() != 0:
        print("envoy RSS: skipped, needs root for a network namespace")
        return None
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    log = config.with_suffix(".log")
    try:
        subprocess.run(
            ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True
        )
        command = ["ip", "netns", "exec", namespace, str(envoy), "-c", str(config)]
        command += ["--concurrency", "2", "--base-id-path", str(config.with_suffix(".id"))]
        command += ["--use-dynamic-base-id"]
        with log.open("w") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_ready(log, process)
            time.sleep(1.0)  # let the workers settle
            return _vm_rss(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)


def _wait_ready(log: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if READY_LINE in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"envoy exited: {log.read_text()[-500:]}")
        time.sleep(0.05)
    raise RuntimeError("envoy did not start within 30 s")


def _vm_rss(pid: int) -> int:
    """VmRSS of `pid`, or of its child when `ip netns exec` forked (it execs, normally)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
