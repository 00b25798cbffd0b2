"""One running container: its process, probe counters and restarts, as the kubelet tracks them.

A container is started from its launch spec file, supervised by its pod's loop (which calls
`due_probes` and `record`), and restarted with the kubelet's back-off (10 s doubling to 5 min)
after it exits or fails its liveness or startup probe.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import processes
from mesh_components.local.probes import Timing

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
STUB_SERVING = b": serving ["  # the line the stub app prints once every port listens


@dataclass
class ProbeState:
    probe: Json
    timing: Timing
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    passed: bool = False


@dataclass
class Container:
    """A container of a pod and its kubelet-side state."""

    name: str
    spec: Json
    argv: list[str]
    runs: str
    uid: int
    gid: int
    sidecar: bool
    log: Path
    pidfile: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    exit_code: int | None = None
    probes: dict[str, ProbeState] = field(default_factory=dict)
    _log_offset: int = 0
    _serving: bool = True

    def start(self) -> None:
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        self._serving = self.runs != "stub"
        self.process = processes.spawn(self.argv, self.log, self.pidfile)
        self.started_at = time.monotonic()
        self.exit_code = None
        self.restart_at = None
        self.probes = {
            kind: ProbeState(
                probe, Timing.of(probe), self.started_at + Timing.of(probe).initial_delay
            )
            for kind in ("startupProbe", "readinessProbe", "livenessProbe")
            if (probe := self.spec.get(kind))
        }

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process else None

    @property
    def started(self) -> bool:
        """Running and past its startup probe (the kubelet's `started`)."""
        startup = self.probes.get("startupProbe")
        return self.running and self.serving and (startup is None or startup.passed)

    @property
    def serving(self) -> bool:
        """A stub app counts as started once it listens on its ports, as a real app binary
        would within milliseconds; Python's own start-up (about 100 ms) is not the app's."""
        if not self._serving:
            with self.log.open("rb") as log:
                log.seek(self._log_offset)
                self._serving = STUB_SERVING in log.read()
        return self._serving

    @property
    def ready(self) -> bool:
        readiness = self.probes.get("readinessProbe")
        return self.started and (readiness is None or readiness.passed)

    def due_probes(self, now: float) -> list[str]:
        """Probe kinds whose turn has come; readiness and liveness wait for startup."""
        if not self.running:
            return []
        kinds = ["startupProbe"] if not self.started else ["readinessProbe", "livenessProbe"]
        return [k for k in kinds if k in self.probes and self.probes[k].next_at <= now]

    def record(self, kind: str, passed: bool, now: float) -> bool:
        """Count one probe result; True when the container must be restarted."""
        state = self.probes[kind]
        state.next_at = now + state.timing.period
        if passed:
            state.successes, state.failures = state.successes + 1, 0
            threshold = 1 if kind != "readinessProbe" else state.timing.success_threshold
            state.passed = state.passed or state.successes >= threshold
            return False
        state.failures, state.successes = state.failures + 1, 0
        if state.failures < state.timing.failure_threshold:
            return False
        state.passed = False
        return kind != "readinessProbe"

    def stop(self, grace: float) -> None:
        if self.process is not None:
            self.exit_code = processes.stop(self.process, grace)
        self.pidfile.unlink(missing_ok=True)

    def schedule_restart(self, now: float) -> None:
        delay = min(BACKOFF_START * 2 ** min(self.restarts, 10), BACKOFF_MAX)
        self.restart_at = now + delay
