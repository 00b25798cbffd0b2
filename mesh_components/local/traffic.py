"""Traffic from inside a pod, as its app's UID: what `local curl` and the end-to-end tests send.

The client script runs in the app container's network, mount and UTS namespaces (so it uses
the pod's resolv.conf, and the pod's iptables send it through the sidecar) and reports one
result per request. `Traffic` counts them: statuses, which backend answered, the identity the
backend saw, and latency percentiles.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_components.local.containers import (
    grpc_import_path,
    python_for_everyone,
    python_for_grpc,
)
from mesh_components.local.system import LocalRunnerError


@dataclass(frozen=True, slots=True)
class Exec:
    """Where and as whom to run inside a pod: a process of the container, and a UID/GID."""

    pid: int
    uid: int
    gid: int

    def argv(self, command: list[str]) -> list[str]:
        return [
            "nsenter", "-t", str(self.pid), "--net", "--mount", "--uts", "--",
            "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
            *command,
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Request:
    """What to send: HTTP to `http://host:port/path`, one unary gRPC call per request to
    `grpc://host:port/package.Service/Method` (the body as the message's bytes, the headers as
    metadata, `timeout` as the deadline), or with `tcp`, a line to `host:port`."""

    url: str
    count: int = 1
    tcp: bool = False
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: float = 5.0
    duration: float = 0.0  # when set: send for this long instead of `count` times
    interval: float = 0.0
    marker: str = "ping"
    # When this file appears, stop after the request in flight: an app that stops calling
    # when its pod is told to terminate (the file must be visible to the app's UID).
    stop_file: str = ""
    # Keep the whole of an answer that is not JSON (a metrics page), not its first 200 characters.
    whole_body: bool = False

    def job(self) -> dict[str, Any]:
        return {
            "url": self.url, "count": self.count, "tcp": self.tcp, "method": self.method,
            "headers": self.headers, "body": self.body, "timeout": self.timeout,
            "duration": self.duration, "interval": self.interval, "marker": self.marker,
            "stop_file": self.stop_file, "whole_body": self.whole_body,
        } | ({"grpc_path": grpc_import_path()} if self.grpc else {})  # fmt: skip

    @property
    def grpc(self) -> bool:
        return self.url.startswith("grpc://")


@dataclass(frozen=True, slots=True)
class Traffic:
    """The results of one batch, in order."""

    results: tuple[dict[str, Any], ...]

    def statuses(self) -> Counter[str]:
        return Counter(str(r["status"]) for r in self.results)

    def workloads(self) -> Counter[str]:
        return Counter(str(r.get("answer", {}).get("workload", "")) for r in self._answered())

    def pods(self) -> Counter[str]:
        return Counter(str(r.get("answer", {}).get("pod", "")) for r in self._answered())

    def identities(self) -> Counter[str]:
        return Counter(str(r.get("answer", {}).get("identity", "")) for r in self._answered())

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not _succeeded(r)]

    def _answered(self) -> list[dict[str, Any]]:
        return [r for r in self.results if _succeeded(r) and "pod" in r.get("answer", {})]

    def percentile(self, fraction: float) -> float:
        latencies = sorted(float(r["latency_ms"]) for r in self.results)
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))]

    def summary(self) -> str:
        lines = [f"{len(self.results)} requests"]
        lines += [f"  status {k}: {v}" for k, v in sorted(self.statuses().items())]
        lines += [f"  backend {k}: {v}" for k, v in sorted(self.workloads().items())]
        lines += [f"  pod {k}: {v}" for k, v in sorted(self.pods().items())]
        lines += [
            f"  identity seen {k or '(none)'}: {v}" for k, v in sorted(self.identities().items())
        ]
        p50, p90, p99 = (self.percentile(f) for f in (0.5, 0.9, 0.99))
        lines.append(f"  latency ms: p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f}")
        return "\n".join(lines)


def _succeeded(result: dict[str, Any]) -> bool:
    status = result["status"]
    return status in ("ok", "OK") or (isinstance(status, int) and 200 <= status < 400)


def client_argv(where: Exec, client: Path, request: Request) -> list[str]:
    python = python_for_grpc() if request.grpc else python_for_everyone()
    return where.argv([python, "-I", str(client), json.dumps(request.job())])


def send(where: Exec, client: Path, request: Request) -> Traffic:
    """Run `request` to completion from inside the pod."""
    budget = request.duration or request.count * (request.timeout + request.interval)
    done = subprocess.run(
        client_argv(where, client, request),
        capture_output=True, text=True, timeout=budget + 30, check=False,
    )  # fmt: skip
    return parse(done.returncode, done.stdout, done.stderr)


def start(where: Exec, client: Path, request: Request) -> subprocess.Popen[str]:
    """Start `request` in the background; `finish` collects it."""
    return subprocess.Popen(
        client_argv(where, client, request),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 120) -> Traffic:
    out, err = process.communicate(timeout=timeout)
    return parse(process.returncode, out, err)


def parse(code: int, out: str, err: str) -> Traffic:
    if code != 0:
        raise LocalRunnerError(f"the traffic client failed ({code}): {err.strip()[-500:]}")
    return Traffic(tuple(json.loads(out)))
