"""One pod, run as the kubelet runs it: sandbox, volumes, init containers, containers, probes.

    network namespace + veth ─> volumes ─> init containers in order (a native sidecar starts and
    must pass its startup probe before the next one) ─> containers ─> probe loop (readiness
    makes the pod an endpoint; liveness and startup failures restart) ─> termination

Termination is graceful: the pod leaves the endpoints, each container runs its preStop hook
(exec, httpGet, tcpSocket or sleep) and then gets SIGTERM, all within the grace period; then
native sidecars stop in reverse order, then the sandbox goes.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.local import dns, probes, volumes
from mesh_components.local.container import Container
from mesh_components.local.containers import PodContext, Runs, launch_argv, launch_spec
from mesh_components.local.layout import Layout
from mesh_components.local.manifests import Manifests
from mesh_components.local.network import DNS_IP, NodeNetwork, PodLink

TICK = 0.1
INIT_TIMEOUT = 120.0
VOLUME_RETRY = 0.5
PRE_STOP_TIMEOUT = 30  # an httpGet or tcpSocket hook's own bound; the grace period cuts it too


@dataclass(frozen=True, slots=True)
class Node:
    """What every pod uses from the cluster."""

    layout: Layout
    network: NodeNetwork
    probe_pool: ThreadPoolExecutor
    envoy: Path
    domain: str
    changed: Callable[[], None]
    objects: Callable[[], Manifests]
    service_ports: Callable[[str, dict[str, str]], dict[int, str]]
    tokens: volumes.TokenSource | None = None  # with an API server: real ServiceAccount tokens
    # With an API server a pod may be bound before its ConfigMaps and Secrets exist: it waits
    # for them, as the kubelet does. From a render directory a missing one is a mistake.
    awaits_volume_sources: bool = False


@dataclass(frozen=True, slots=True)
class PodIdentity:
    name: str
    namespace: str
    workload: str  # "Kind/name"
    template_hash: str
    hostname: str
    subdomain: str


class Pod:
    """A pod's sandbox, containers and state; `start` runs its lifecycle in a thread."""

    def __init__(
        self, node: Node, identity: PodIdentity, template: Json, uid: str | None = None
    ) -> None:
        self.node = node
        self.id = identity
        self.template = template
        self.uid = uid or secrets.token_hex(8)
        self.labels: dict[str, str] = dict((template.get("metadata") or {}).get("labels") or {})
        self.annotations = dict((template.get("metadata") or {}).get("annotations") or {})
        self.spec: Json = template.get("spec") or {}
        self.directory = node.layout.pod_dir(identity.name, identity.namespace)
        self.link: PodLink | None = None
        self.phase = "Pending"
        self.error = ""
        self.waiting_reason = ""  # why a pending pod has not started its containers yet
        self.ready_since = 0.0  # time.time() when the pod last became Ready (0: it is not)
        self.terminating = False
        self.init_done = False
        self.sidecars: list[Container] = []
        self.containers: list[Container] = []
        self._ready = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._lifecycle, name=f"pod-{identity.name}")
        self._lock = threading.Lock()

    # -- state seen by others -------------------------------------------------------------

    @property
    def ip(self) -> str:
        return self.link.ip if self.link else ""

    @property
    def ready(self) -> bool:
        return self._ready and not self.terminating

    @property
    def named_ports(self) -> dict[str, int]:
        return {
            str(p["name"]): int(p["containerPort"])
            for c in self.spec.get("containers", []) + self.spec.get("initContainers", [])
            for p in c.get("ports", [])
            if p.get("name")
        }

    def app_container(self) -> Container | None:
        """The first running stub app: where `local curl` and tests exec."""
        stubs = [c for c in self.containers if c.runs == Runs.STUB.value and c.running]
        return stubs[0] if stubs else None

    def snapshot(self) -> Json:
        every = self.sidecars + self.containers
        return {
            "name": self.id.name, "namespace": self.id.namespace, "workload": self.id.workload,
            "ip": self.ip, "netns": self.link.netns if self.link else "",
            "veth": self.link.veth if self.link else "", "phase": self.phase,
            "ready": self.ready, "error": self.error, "labels": self.labels,
            "containers": [
                {"name": c.name, "runs": c.runs, "pid": c.pid, "uid": c.uid, "gid": c.gid,
                 "ready": c.ready, "restarts": c.restarts, "sidecar": c.sidecar}
                for c in every
            ],
        }  # fmt: skip

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _lifecycle(self) -> None:
        try:
            self._sandbox()
            self._run_init_containers()
            if self._stop.is_set():
                return
            self.containers = [
                self._container(c, False, i) for i, c in enumerate(self.spec.get("containers", []))
            ]
            for container in self.containers:
                container.start()
            self.phase = "Running"
            self._supervise()
        except Exception as error:  # A pod failure is reported, not raised.
            self.phase, self.error = "Failed", _describe(error)
            self._log("pod failed:\n" + traceback.format_exc())
            self.node.changed()

    def _sandbox(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.link = self.node.network.add_pod()
        etc = self.directory / "etc"
        etc.mkdir(exist_ok=True)
        fqdn = self.id.hostname
        if self.id.subdomain:
            fqdn = (
                f"{self.id.hostname}.{self.id.subdomain}.{self.id.namespace}.svc.{self.node.domain}"
            )
        resolv = dns.resolv_conf(self.id.namespace, self.node.domain, str(DNS_IP))
        (etc / "resolv.conf").write_text(resolv)
        hosts = f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{self.ip}\t{fqdn} {self.id.hostname}\n"
        (etc / "hosts").write_text(hosts)
        (etc / "hostname").write_text(self.id.hostname + "\n")
        for path in (etc / "resolv.conf", etc / "hosts", etc / "hostname"):
            path.chmod(0o644)
        (self.directory / "shm").mkdir(mode=0o1777, exist_ok=True)
        (self.directory / "shm").chmod(0o1777)
        self._mount_volumes()

    def _mount_volumes(self) -> None:
        """Write every volume; with an API server, wait for sources that do not exist yet."""
        while True:
            try:
                self.refresh_volumes(self.node.objects())
                self.waiting_reason = ""
                return
            except MeshValidationError as error:
                missing = set(error.codes) == {"local-volume-source-missing"}
                if not (missing and self.node.awaits_volume_sources) or self._stop.is_set():
                    raise
                self.waiting_reason = f"waiting for {error.problems[0].expected}"
                self._stop.wait(VOLUME_RETRY)

    def volume_dirs(self) -> dict[str, Path]:
        return {
            v["name"]: self.directory / "volumes" / v["name"] for v in self.spec.get("volumes", [])
        }

    def refresh_volumes(self, objects: Manifests) -> list[str]:
        """Write every volume (atomically); the names of those whose content changed."""
        return self.write_volumes(self.volume_payloads(objects))

    def volume_payloads(self, objects: Manifests) -> dict[str, volumes.Payload | None]:
        """Every volume's files from `objects` (None: a plain directory); raises, writing
        nothing, when a source is missing."""
        facts = self._facts()
        return {
            volume["name"]: volumes.payload(
                volume, objects, facts, f"Pod[{self.id.namespace}/{self.id.name}].spec.volumes[{n}]"
            )
            for n, volume in enumerate(self.spec.get("volumes", []))
        }

    def write_volumes(self, payloads: dict[str, volumes.Payload | None]) -> list[str]:
        changed = []
        for name, files in payloads.items():
            target = self.directory / "volumes" / name
            if files is None:
                volumes.make_empty_dir(target)
            elif volumes.write_atomically(target, files):
                changed.append(name)
        return changed

    def _facts(self) -> volumes.PodFacts:
        account = str(self.spec.get("serviceAccountName") or "default")
        return volumes.PodFacts(
            self.id.name,
            self.id.namespace,
            self.uid,
            self.labels,
            self.annotations,
            account,
            self.node.tokens,
        )

    def _context(self) -> PodContext:
        assert self.link is not None
        return PodContext(
            facts=self._facts(), ip=self.link.ip, hostname=self.id.hostname,
            netns=self.link.netns, directory=self.directory, volumes=self.volume_dirs(),
            pod_spec=self.spec, objects=self.node.objects(), envoy=self.node.envoy,
            stub=self.node.layout.bin / "stub_app.py", workload=self.id.workload.split("/")[1],
            service_ports=self.node.service_ports(self.id.namespace, self.labels),
        )  # fmt: skip

    def _container(self, spec: Json, init: bool, number: int) -> Container:
        kind = "initContainers" if init else "containers"
        where = f"Pod[{self.id.namespace}/{self.id.name}].spec.{kind}[{number}]"
        launch = launch_spec(self._context(), spec, init, where)
        spec_file = self.directory / "specs" / f"{spec['name']}.json"
        spec_file.parent.mkdir(exist_ok=True)
        spec_file.write_text(json.dumps(launch))
        spec_file.chmod(0o600)  # It may hold values from Secrets.
        for target in launch["skipped"]:
            self._log(f"container {spec['name']}: {target} not mounted (no such top directory "
                      "on this host; the stub app reads no volume)")  # fmt: skip
        pidfile = self.node.layout.pids / f"{self.id.namespace}_{self.id.name}_{spec['name']}.pid"
        return Container(
            name=spec["name"], spec=spec, argv=launch_argv(self._context(), spec_file),
            runs=launch["runs"], uid=launch["user"]["uid"], gid=launch["user"]["gid"],
            sidecar=init and spec.get("restartPolicy") == "Always",
            log=self.directory / "logs" / f"{spec['name']}.log", pidfile=pidfile,
        )  # fmt: skip

    def _run_init_containers(self) -> None:
        for number, spec in enumerate(self.spec.get("initContainers", [])):
            if self._stop.is_set():
                return
            container = self._container(spec, True, number)
            container.start()
            if container.sidecar:
                self.sidecars.append(container)
                self._await_started(container)
            else:
                self._await_exit(container)
        self.init_done = True

    def _await_exit(self, container: Container) -> None:
        assert container.process is not None
        deadline = time.monotonic() + INIT_TIMEOUT
        while (code := container.process.poll()) is None:
            if self._stop.is_set() or time.monotonic() > deadline:
                container.stop(1)
                if self._stop.is_set():
                    return
                code = -1
                break
            time.sleep(TICK / 2)
        container.pidfile.unlink(missing_ok=True)
        if code != 0:
            tail = _tail(container.log)
            raise PodStartError(f"init container {container.name} exited {code}: {tail}")

    def _await_started(self, container: Container) -> None:
        deadline = time.monotonic() + INIT_TIMEOUT
        while not container.started and not self._stop.is_set():
            if not container.running or time.monotonic() > deadline:
                raise PodStartError(
                    f"sidecar {container.name} did not start: {_tail(container.log)}"
                )
            self._probe(container, time.monotonic())
            time.sleep(TICK)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for container in self.sidecars + self.containers:
                self._tend(container, now)
            ready = self.init_done and all(c.ready for c in self.sidecars + self.containers)
            if ready != self._ready:
                self._ready = ready
                self.ready_since = time.time() if ready else 0.0
                self.node.changed()
            self._stop.wait(TICK)

    def _tend(self, container: Container, now: float) -> None:
        if container.restart_at is not None:
            if now >= container.restart_at:
                container.restarts += 1
                container.start()
            return
        if not container.running:
            container.exit_code = container.process.returncode if container.process else None
            self._log(f"container {container.name} exited {container.exit_code}")
            if container.sidecar or self.spec.get("restartPolicy", "Always") == "Always":
                container.schedule_restart(now)
            return
        if self._probe(container, now):
            self._log(f"container {container.name} failed its probe: restarting")
            container.stop(float(self.spec.get("terminationGracePeriodSeconds", 30)))
            container.schedule_restart(now)

    def _probe(self, container: Container, now: float) -> bool:
        """Run the due probes; True when the container must restart."""
        restart = False
        for kind in container.due_probes(now):
            probe = container.probes[kind].probe
            passed = self._check(probe, container)
            restart = container.record(kind, passed, time.monotonic()) or restart
        return restart

    def _check(self, probe: Json, container: Container) -> bool:
        def run_exec(argv: list[str]) -> bool:
            return self.exec(container, argv).returncode == 0

        future = self.node.probe_pool.submit(
            probes.check, probe, self.ip, self.named_ports, run_exec
        )
        try:
            return future.result(timeout=probes.Timing.of(probe).timeout + 5)
        except FutureTimeout:
            return False

    def exec(
        self, container: Container, argv: list[str], *, uid: int | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside `container` (its network, mounts and hostname) as its UID."""
        if container.pid is None:
            raise PodStartError(f"container {container.name} of {self.id.name} is not running")
        become = uid if uid is not None else container.uid
        gid = container.gid if uid is None else uid
        command = [
            "nsenter", "-t", str(container.pid), "--net", "--mount", "--uts", "--",
            "setpriv", f"--reuid={become}", f"--regid={gid}", "--clear-groups", "--", *argv,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    # -- termination ------------------------------------------------------------------------

    def terminate(self, grace: float | None = None) -> None:
        """Graceful deletion, as the kubelet does it: out of the endpoints; each container's
        preStop hook, then SIGTERM, all within the grace period; native sidecars last."""
        self.terminating = True
        self.phase = "Terminating"
        self.node.changed()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        period = (
            float(self.spec.get("terminationGracePeriodSeconds", 30)) if grace is None else grace
        )
        deadline = time.monotonic() + period
        threads = [
            threading.Thread(target=self._stop_container, args=(c, deadline))
            for c in self.containers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for sidecar in reversed(self.sidecars):
            sidecar.stop(min(period, 10))
        self._teardown()

    def _stop_container(self, container: Container, deadline: float) -> None:
        """Its preStop hook (cut short at the deadline), then SIGTERM and what is left of the
        grace period."""
        hook = (container.spec.get("lifecycle") or {}).get("preStop") or {}
        if hook and container.running:
            worker = threading.Thread(target=self._pre_stop, args=(container, hook), daemon=True)
            worker.start()
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        container.stop(max(0.0, deadline - time.monotonic()))

    def _pre_stop(self, container: Container, hook: Json) -> None:
        if "sleep" in hook:
            time.sleep(float(hook["sleep"].get("seconds", 0)))
            return
        handler = {**hook, "timeoutSeconds": PRE_STOP_TIMEOUT}
        passed = self._check(handler, container)
        self._log(f"container {container.name}: preStop hook {'ran' if passed else 'failed'}")

    def kill(self) -> None:
        """Immediate deletion (for `down`): every process killed, the sandbox removed."""
        self.terminating = True
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=INIT_TIMEOUT)
        for container in self.containers + self.sidecars:
            container.stop(0)
        self._teardown()

    def _teardown(self) -> None:
        if self.link is not None:
            self.node.network.remove_pod(self.link)
        self.phase = "Deleted"
        shutil.rmtree(self.directory, ignore_errors=True)
        self.node.changed()

    def _log(self, text: str) -> None:
        log = self.directory / "logs" / "pod.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def waiting_for(self) -> str:
        """Which containers are not ready yet, and the end of their logs."""
        waiting = [c for c in self.sidecars + self.containers if not c.ready]
        if not self.init_done:
            return "init containers still running"
        return "\n".join(f"{c.name} not ready: {_tail(c.log, 5)}" for c in waiting)

    def logs(self) -> str:
        """Every log of the pod (the kubelet's and its containers'), for failure reports."""
        logs = sorted((self.directory / "logs").glob("*.log"))
        return "\n".join(f"--- {log.name}\n{_tail(log, 30)}" for log in logs)


def describe_failures(what: str, pods: list[Pod]) -> str:
    """Why `pods` are failed or not Ready: their errors, or the containers still waiting."""
    lines = [f"pods {what}:"]
    for pod in pods:
        lines.append(f"  {pod.id.namespace}/{pod.id.name} ({pod.phase}):")
        lines += ["    " + line for line in (pod.error or pod.waiting_for()).splitlines()]
    return "\n".join(lines)


class PodStartError(Exception):
    """A pod could not start (shown in its status and in `up`'s error)."""


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__


def _tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
