"""Workloads: the owners of pod templates, each of which gets one sidecar and one proxy config."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mesh_components.model.refs import Identity, WorkloadRef
from mesh_components.model.service import Labels
from mesh_components.model.settings import LogLevel


class WorkloadKind(enum.StrEnum):
    """The Kubernetes kinds that own pod templates."""

    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"
    REPLICA_SET = "ReplicaSet"
    JOB = "Job"
    CRON_JOB = "CronJob"
    POD = "Pod"


class ProbeKind(enum.StrEnum):
    """The kubelet's three probes."""

    LIVENESS = "liveness"
    READINESS = "readiness"
    STARTUP = "startup"


class ProbeAction(enum.StrEnum):
    """How the kubelet probes."""

    HTTP = "http"
    TCP = "tcp"
    GRPC = "grpc"


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """A port a container listens on. The name lets a Service's `targetPort` refer to it."""

    port: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """An application probe, which the sidecar answers in plaintext under strict mTLS."""

    kind: ProbeKind
    container: str
    action: ProbeAction
    port: int
    path: str = "/"
    https: bool = False
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    failure_threshold: int = 3


@dataclass(frozen=True, slots=True)
class AppContainer:
    """What `render` needs to write the workload's own pod: one app container."""

    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    replicas: int = 1
    schedule: str = ""
    """A CronJob's cron schedule (required for that kind)."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment, StatefulSet, ... whose pods run under one ServiceAccount (the identity).

    `annotations` go on the pod template (per-workload interception exclusions, opt-out, the
    app's `prometheus.io/*` ones: model/metrics.py).
    `app` is only needed to render the workload itself; injecting existing manifests reads
    everything else from them. `proxy_log_level` overrides the mesh's `proxy.logLevel` for
    this workload's sidecars (None: the mesh's).
    """

    name: str
    namespace: str
    service_account: str
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    labels: Labels = ()
    ports: tuple[ContainerPort, ...] = ()
    probes: tuple[Probe, ...] = ()
    annotations: Labels = ()
    app: AppContainer = field(default_factory=AppContainer)
    proxy_log_level: LogLevel | None = None

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(self.namespace, self.name)

    @property
    def identity(self) -> Identity:
        return Identity(self.namespace, self.service_account)

    def resolve_port(self, target: int | str) -> int | None:
        """A Service target port on this workload's pods: a number, or a named container port."""
        if isinstance(target, int):
            return target
        return next((p.port for p in self.ports if p.name == target), None)
