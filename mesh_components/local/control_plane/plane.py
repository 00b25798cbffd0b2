"""Starting and stopping one cluster's control plane: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, the binaries `make tools` builds from one Kubernetes release.

Everything listens on loopback, on ports free when the cluster starts; everything lives under
the cluster's state directory (data, PKI, kubeconfigs, logs, pid files), so `stop` and the
state directory's removal leave nothing behind. The API server runs the admission plugins a
real cluster enables by default, ServiceAccount admission among them, and authorizes with Node
and RBAC; the admin kubeconfig is in group system:masters.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mesh_components.local import processes
from mesh_components.local.control_plane import certificates
from mesh_components.local.control_plane.api import Api, ApiError, Credentials
from mesh_components.local.control_plane.certificates import Client, Pki
from mesh_components.local.layout import Layout
from mesh_components.local.system import LocalRunnerError

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
SERVICE_CIDR = "10.96.0.0/16"
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 90.0
ADMIN = Client("admin", "mesh-components-admin", ("system:masters",))
CONTROLLER_MANAGER = Client("controller-manager", "system:kube-controller-manager")
SCHEDULER = Client("scheduler", "system:kube-scheduler")


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """A running control plane: where its API server is, and its admin kubeconfig. `children`
    are its processes when this process started them (another process stops them by their pid
    files, with `stop(layout)`)."""

    layout: Layout
    api_port: int
    children: tuple[subprocess.Popen[bytes], ...] = field(default=(), compare=False, repr=False)

    def stop(self) -> int:
        """Stop the processes and reap them; how many were running."""
        stopped = stop(self.layout)
        for child in self.children:
            child.wait(timeout=10)
        return stopped

    @property
    def folder(self) -> Path:
        return control_plane_folder(self.layout)

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "admin.kubeconfig"

    def api(self, client: Client = ADMIN) -> Api:
        pki = Pki(self.folder / "pki")
        return Api(
            Credentials(
                LOOPBACK,
                self.api_port,
                pki.ca,
                pki.certificate(client.name),
                pki.key(client.name),
            )
        )


def control_plane_folder(layout: Layout) -> Path:
    return layout.state / "control-plane"


def running(layout: Layout) -> ControlPlane:
    """The control plane `start` left running for `layout`'s cluster (from another process)."""
    try:
        port = int((control_plane_folder(layout) / API_PORT_FILE).read_text())
    except (OSError, ValueError):
        raise LocalRunnerError(
            f"cluster {layout.cluster} has no control plane (start it with `local cluster up`)"
        ) from None
    return ControlPlane(layout, port)


API_PORT_FILE = "api-port"


def find_binary(name: str) -> Path:
    """A control-plane binary: from MESH_TOOLS_BIN, this checkout's .tools/bin, or PATH."""
    candidates = [os.environ.get("MESH_TOOLS_BIN", ""), str(_checkout_tools())]
    for folder in filter(None, candidates):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found is None:
        raise LocalRunnerError(
            f"{name} is not installed: run `make tools` in the mesh_components checkout (it "
            "builds the control plane from its Go modules), or set MESH_TOOLS_BIN"
        )
    return Path(found)


def _checkout_tools() -> Path:
    return Path(__file__).resolve().parents[3] / ".tools" / "bin"


def start(layout: Layout, extra_clients: tuple[Client, ...] = ()) -> ControlPlane:
    """Start the control plane of `layout`'s cluster and wait until it serves and its
    controllers run; on failure, stop what started and raise with the log to read."""
    binaries = {name: find_binary(name) for name in BINARIES}
    folder = control_plane_folder(layout)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    clients = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, *extra_clients)
    pki = certificates.create(folder / "pki", clients, (LOOPBACK, "10.96.0.1"))
    etcd_port, peer_port, api_port = _free_ports(3)
    children: list[subprocess.Popen[bytes]] = []
    plane = ControlPlane(layout, api_port)
    try:
        children.append(
            _spawn(layout, "etcd", _etcd(binaries["etcd"], folder, etcd_port, peer_port))
        )
        children.append(
            _spawn(layout, "kube-apiserver", _apiserver(binaries, pki, etcd_port, api_port))
        )
        _wait_serving(plane)
        (folder / API_PORT_FILE).write_text(f"{api_port}\n")
        for client in clients:
            _write_kubeconfig(folder / f"{client.name}.kubeconfig", pki, client, api_port)
        manager = _controller_manager(binaries, pki, folder)
        children.append(_spawn(layout, "kube-controller-manager", manager))
        children.append(_spawn(layout, "kube-scheduler", _scheduler(binaries, folder)))
        _wait_controllers(plane)
    except BaseException:
        ControlPlane(layout, api_port, tuple(children)).stop()
        raise
    return ControlPlane(layout, api_port, tuple(children))


def stop(layout: Layout) -> int:
    """Stop every control-plane process of the cluster; how many were running."""
    pids = layout.pids
    stopped = 0
    for name in reversed(BINARIES):
        stopped += processes.kill_recorded(pids / f"{name}.pid")
    return stopped


def _spawn(layout: Layout, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    log = control_plane_folder(layout) / "logs" / f"{name}.log"
    return processes.spawn(argv, log, layout.pids / f"{name}.pid")


def _etcd(binary: Path, folder: Path, port: int, peer: int) -> list[str]:
    client, peer_url = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{peer}"
    return [
        str(binary),
        f"--data-dir={folder / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        "--log-level=warn",
    ]


def _apiserver(binaries: dict[str, Path], pki: Pki, etcd: int, port: int) -> list[str]:
    return [
        str(binaries["kube-apiserver"]),
        f"--etcd-servers=http://{LOOPBACK}:{etcd}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={port}",
        # Loopback cannot be the `kubernetes` Service's endpoint, so nothing reconciles it.
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={pki.certificate('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.service_account_public}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",  # the sidecar's init container needs NET_ADMIN
    ]


def _as_client(folder: Path, client: Client) -> list[str]:
    """The flags that make a controller talk to the API server, and check its own callers, as
    `client`; it serves nothing itself."""
    kubeconfig = folder / f"{client.name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--secure-port=0",
    ]


def _controller_manager(binaries: dict[str, Path], pki: Pki, folder: Path) -> list[str]:
    return [
        str(binaries["kube-controller-manager"]),
        *_as_client(folder, CONTROLLER_MANAGER),
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*",
    ]


def _scheduler(binaries: dict[str, Path], folder: Path) -> list[str]:
    return [str(binaries["kube-scheduler"]), *_as_client(folder, SCHEDULER)]


def _wait_serving(plane: ControlPlane) -> None:
    api = plane.api()
    _until(lambda: api.get("/readyz").get("text", "").strip() == "ok", "the API server", plane)


def _wait_controllers(plane: ControlPlane) -> None:
    """Ready once the ServiceAccount controller has made `default` in the default namespace,
    and both the controller manager and the scheduler hold their leader leases."""
    api = plane.api()

    def ready() -> bool:
        api.get("/api/v1/namespaces/default/serviceaccounts/default")
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
        api.get(f"{leases}/kube-controller-manager")
        api.get(f"{leases}/kube-scheduler")
        return True

    _until(ready, "the controller manager and the scheduler", plane)


def _until(check: Callable[[], bool], what: str, plane: ControlPlane) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ApiError:
            pass
        time.sleep(0.5)
    logs = plane.folder / "logs"
    raise LocalRunnerError(f"{what} did not become ready in {READY_TIMEOUT:g} s (logs: {logs})")


def _write_kubeconfig(path: Path, pki: Pki, client: Client, port: int) -> None:
    text = (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: https://{LOOPBACK}:{port}\n"
        f"    certificate-authority: {pki.ca}\n"
        f"users:\n- name: {client.name}\n  user:\n"
        f"    client-certificate: {pki.certificate(client.name)}\n"
        f"    client-key: {pki.key(client.name)}\n"
        f"contexts:\n- name: local\n  context: {{cluster: local, user: {client.name}}}\n"
        "current-context: local\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
