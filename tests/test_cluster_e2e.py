"""The mesh on a real control plane, driven as a user drives one: `local cluster up` (etcd, the
API server, the controllers, the scheduler, and the local runner as the node), then `kubectl
apply` of a render and `pulumi up` of the root program with the real CLI, engine and Kubernetes
provider, with KUBECONFIG set and no render mode; traffic through the real Envoys; and a weight
change hot-reloaded under steady load, `pulumi destroy` and `local cluster down` leaving nothing.

One cluster serves the module and the tests run in order, each leaving it as the next expects.
Needs root, Envoy and `make tools`: in CI their absence fails, elsewhere it skips with the reason.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.cli import main
from mesh_components.local import cleanup, traffic
from mesh_components.local.cli import app_of, read_status
from mesh_components.local.control_plane.plane import BINARIES
from mesh_components.local.layout import Layout
from mesh_components.pki import ca_file
from tests.engine import ROOT, Result, Workspace
from tests.engine import require_tools as require_pulumi
from tests.local_bookstore import BOOKSTORE, BUYER_HEADERS, why_not

pytestmark = [pytest.mark.root, pytest.mark.envoy, pytest.mark.engine]

TOOLS = ROOT / ".tools" / "bin"
OSM_DEMO = ROOT.parent / "shared" / "reference" / "osm-demo"
BOOKS_BOUGHT = f"{BOOKSTORE}/books-bought"
NAMESPACES = ("bookbuyer", "bookthief", "bookstore", "bookwarehouse")
HOT_RELOAD = {
    "configUpdates": "hot-reload",
    "kubernetes:enableConfigMapMutable": "true",
    "kubernetes:enableSecretMutable": "true",
}
SPIFFE = "spiffe://cluster.local/ns/{}/sa/{}"
RENEW_EVERY = timedelta(days=60)  # validity 90 d - renewBefore 30 d, the defaults
ROTATION_LEAD = timedelta(seconds=60)
LOAD = 40.0  # seconds of steady requests around each `pulumi up`
CONVERGED = 1.0  # seconds after Ready by which every sidecar sends a pod traffic
CA_KEY = names.CA_BUNDLE_FILE


@dataclass(frozen=True)
class Cluster:
    layout: Layout
    kubeconfig: Path
    work: Path
    facts: dict[str, Any] = field(default_factory=dict)  # what one test leaves the next

    def kubectl(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = [str(TOOLS / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def items(self, kind: str, *where: str) -> list[dict[str, Any]]:
        done = self.kubectl("get", kind, *where, "-o", "json")
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)["items"]
        return found

    def send(self, source: str, url: str, **options: Any) -> traffic.Traffic:
        where = app_of(read_status(self.layout), source)
        return traffic.send(where, self.layout.bin / "client.py", traffic.Request(url, **options))

    @contextmanager
    def load(
        self, source: str, url: str, **options: Any
    ) -> Iterator[Callable[[], traffic.Traffic]]:
        """Requests sent in the background; call what this yields to collect them. The
        client is reaped however the block ends."""
        where = app_of(read_status(self.layout), source)
        request = traffic.Request(url, **options)
        client = traffic.start(where, self.layout.bin / "client.py", request)
        try:
            yield lambda: traffic.finish(client, timeout=request.duration + 60)
        finally:
            if client.returncode is None:
                client.kill()
                client.communicate()


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mesh_components", "local", "cluster", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = why_not() or _missing_tools()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the real-cluster tests)")
        pytest.skip(reason)
    require_pulumi()
    name = f"e{os.getpid() % 10**6}"
    up = _cli("up", "--name", name)
    layout = Layout(name)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        last = up.stdout.strip().splitlines()[-1]
        assert last.startswith("KUBECONFIG=")
        yield Cluster(
            layout, Path(last.removeprefix("KUBECONFIG=")), tmp_path_factory.mktemp("e2e")
        )
    finally:
        down = _cli("down", "--name", name)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped the node (1 process)" in down.stdout
    assert cleanup.leftovers(layout) == []
    assert (
        subprocess.run(["pgrep", "-f", f"{layout.state}/"], capture_output=True, check=False).stdout
        == b""
    )


def _missing_tools() -> str | None:
    missing = [name for name in (*BINARIES, "kubectl") if not (TOOLS / name).is_file()]
    return f"{', '.join(missing)} not built: run `make tools`" if missing else None


def _pulumi_ca(cluster: Cluster) -> Path:
    """The stack's CA file: its certificates' next issuance instant is ROTATION_LEAD after the
    first `pulumi up`, so a later `up` rotates every leaf without a moved clock."""
    path = cluster.work / "pulumi-ca.secret.yaml"
    if not path.exists():
        seed = ca_file.new_seed(datetime.now(UTC) - RENEW_EVERY + ROTATION_LEAD)
        ca_file.save(path, ca_file.CaFile(current=seed))
        cluster.facts["rotation_at"] = seed.not_before + RENEW_EVERY
    return path


def _up(
    cluster: Cluster, weight: int, clock_offset: str | None = None, updates: str = "hot-reload"
) -> Result:
    """`pulumi up` of the root program, with the stack's CA file (hot-reload mode unless
    `updates` says rollout)."""
    workspace = Workspace(cluster.work / "pulumi", KUBECONFIG=str(cluster.kubeconfig))
    config = {**HOT_RELOAD, "configUpdates": updates, "bookstoreV2Weight": str(weight)}
    secrets = {"ca": _pulumi_ca(cluster).read_text()}
    done = workspace.run("up", ROOT, config=config, secrets=secrets, clock_offset=clock_offset)
    assert done.ok, done.output[-3000:]
    return done


def _under_load(cluster: Cluster, weight: int, clock_offset: str | None = None) -> traffic.Traffic:
    """`_up` while bookbuyer sends steady requests for longer than it takes; those requests."""
    load = cluster.load(
        "bookbuyer/bookbuyer", BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=LOAD, interval=0.02
    )
    with load as collect:
        done = _up(cluster, weight, clock_offset)
        result = collect()
    assert done.seconds < LOAD - 5, f"`pulumi up` took {done.seconds:.0f} s, the load lasts {LOAD}"
    assert len(result.results) > 300 and result.failures() == [], result.summary()
    return result


def _serving_serials(cluster: Cluster) -> set[str]:
    """The leaf serials bookbuyer's Envoy serves now (its admin, from inside the pod)."""
    answer = cluster.send("bookbuyer/bookbuyer", "http://127.0.0.1:15000/certs").results[0]
    certificates = answer["answer"]["certificates"]
    return {c["serial_number"].lstrip("0") for e in certificates for c in e["cert_chain"]}


def _bundle_size(cluster: Cluster) -> int:
    """How many CA certificates bookbuyer's identity Secret asks its Envoy to trust."""
    (secret,) = [
        s
        for s in cluster.items("secrets", "-n", "bookbuyer")
        if s["metadata"]["name"].startswith("bookbuyer-mesh-identity")
    ]
    bundle = base64.b64decode(secret["data"][CA_KEY]).decode()
    return bundle.count("BEGIN CERTIFICATE")


def _ca(cluster: Cluster) -> Path:
    ca = cluster.work / "ca.secret.yaml"
    if not ca.exists():
        out = cluster.work / "k8s"
        arguments = ["render", str(ROOT / "examples" / "bookstore"), "-o", str(out)]
        assert main([*arguments, "--ca-file", str(ca), "--new-ca"]) == 0
    return ca


def _wait_pods_ready(
    cluster: Cluster, count: int, timeout: float = 120, namespaces: tuple[str, ...] = NAMESPACES
) -> list[dict[str, Any]]:
    """Until exactly `count` pods of `namespaces` are Running and Ready."""
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in cluster.items("pods", "-A") if p["metadata"]["namespace"] in namespaces]
        ready = [p for p in pods if _ready(p)]
        if len(ready) == count == len(pods):
            time.sleep(CONVERGED)  # every sidecar has asked DNS again since (issue 18)
            return pods
        assert time.monotonic() < deadline, [(p["metadata"]["name"], p["status"]) for p in pods]
        time.sleep(1)


def _ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True"


def _wait_mesh_gone(
    cluster: Cluster, timeout: float = 120, namespaces: tuple[str, ...] = NAMESPACES
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = [n for n in cluster.items("namespaces") if n["metadata"]["name"] in namespaces]
        pods = [p for p in read_status(cluster.layout)["pods"] if p["namespace"] in namespaces]
        if not left and not pods:
            return
        log = cluster.layout.log.read_text()[-3000:] if cluster.layout.log.exists() else ""
        assert time.monotonic() < deadline, (left, pods, log)
        time.sleep(1)


def _assert_the_mesh_runs(cluster: Cluster) -> None:
    """The split, the denial and the TCP route, measured as traffic."""
    bought = cluster.send("bookbuyer/bookbuyer", BOOKS_BOUGHT, count=60, headers=BUYER_HEADERS)
    assert bought.statuses() == {"200": 60}
    split = bought.workloads()
    assert split.keys() == {"bookstore-v1", "bookstore-v2"} and min(split.values()) >= 15, split
    assert bought.identities() == {SPIFFE.format("bookbuyer", "bookbuyer"): 60}
    thief = cluster.send("bookthief/bookthief", BOOKS_BOUGHT, count=10, headers=BUYER_HEADERS)
    assert thief.statuses() == {"error: ConnectionRefusedError": 10}
    mysql = cluster.send(
        "bookwarehouse/bookwarehouse", "mysql.bookwarehouse:3306", count=5, tcp=True
    )
    assert mysql.statuses() == {"ok": 5} and mysql.workloads() == {"mysql": 5}


def test_the_node_is_a_ready_node_and_its_pods_report_their_state(cluster: Cluster) -> None:
    (node,) = cluster.items("nodes")
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert node["metadata"]["name"] == cluster.layout.cluster and conditions["Ready"] == "True"
    assert not [t for t in node["spec"].get("taints", []) if t["effect"] == "NoSchedule"]
    lease = cluster.items("leases", "-n", "kube-node-lease")
    assert [item["spec"]["holderIdentity"] for item in lease] == [cluster.layout.cluster]


def test_kubectl_apply_of_a_render_runs_the_mesh_and_delete_removes_it(cluster: Cluster) -> None:
    _ca(cluster)
    directory = cluster.work / "k8s"
    applied = cluster.kubectl("apply", "--server-side", "-R", "-f", str(directory))
    assert applied.returncode == 0, applied.stderr
    pods = _wait_pods_ready(cluster, 6)
    for pod in pods:  # IP, native sidecar started and ready, the app's container running
        status = pod["status"]
        assert status["podIP"].startswith("10.244.") and status["hostIP"] == "10.244.0.1"
        (sidecar,) = [s for s in status["initContainerStatuses"] if s["name"] == "mesh-proxy"]
        assert sidecar["ready"] and sidecar["started"] and "running" in sidecar["state"]
        assert all("running" in c["state"] for c in status["containerStatuses"])
    _assert_the_mesh_runs(cluster)
    deleted = cluster.kubectl("delete", "-R", "-f", str(directory), "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    _wait_mesh_gone(cluster)


def test_osms_demo_rendered_from_its_manifests_runs_on_the_node(cluster: Cluster) -> None:
    """OSM's published demo manifests and SMI resources, rendered unedited and applied
    server-side after their namespaces, as OSM's demo does (its manifests hold none)."""
    out = cluster.work / "osm"
    flags = ["--namespaces", ",".join(NAMESPACES), "--access", "policy"]
    ca = ["--ca-file", str(cluster.work / "osm-ca.secret.yaml"), "--new-ca"]
    assert main(["render", str(OSM_DEMO), "-o", str(out), *ca, *flags]) == 0
    for namespace in NAMESPACES:
        assert cluster.kubectl("create", "namespace", namespace).returncode == 0
    applied = cluster.kubectl("apply", "--server-side", "-R", "-f", str(out))
    assert applied.returncode == 0, applied.stderr
    _wait_pods_ready(cluster, 6)
    split = cluster.send("bookbuyer/bookbuyer", BOOKS_BOUGHT, count=100, headers=BUYER_HEADERS)
    assert split.statuses() == {"200": 100}
    assert split.workloads().keys() == {"bookstore", "bookstore-v2"}  # OSM's split-50-50
    thief = cluster.send("bookthief/bookthief", BOOKS_BOUGHT, count=5, headers=BUYER_HEADERS)
    assert thief.statuses() == {"error: ConnectionRefusedError": 5}
    restock = "http://bookwarehouse.bookwarehouse:14001/restock-books"
    assert cluster.send("bookstore/bookstore", restock, count=5, method="POST").statuses() == {
        "200": 5
    }
    mysql = cluster.send(
        "bookwarehouse/bookwarehouse", "mysql.bookwarehouse:3306", count=5, tcp=True
    )
    assert mysql.statuses() == {"ok": 5}
    deleted = cluster.kubectl("delete", "namespace", *NAMESPACES, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    _wait_mesh_gone(cluster)


def test_pulumi_up_of_the_root_program_runs_the_mesh(cluster: Cluster) -> None:
    _up(cluster, weight=50)
    _wait_pods_ready(cluster, 6, timeout=30)  # the provider awaited the rollouts already
    accounts = {a["metadata"]["name"] for a in cluster.items("serviceaccounts", "-n", "bookstore")}
    assert {"bookstore", "bookstore-v2"} <= accounts
    _assert_the_mesh_runs(cluster)
    cluster.facts["first_serials"] = _serving_serials(cluster)


def test_a_weight_change_is_hot_reloaded_under_load_without_a_failure(cluster: Cluster) -> None:
    before = {p["metadata"]["uid"]: _restarts(p) for p in _wait_pods_ready(cluster, 6)}
    _under_load(cluster, weight=100)
    moved = _until_only_v2(cluster)
    after = {p["metadata"]["uid"]: _restarts(p) for p in _wait_pods_ready(cluster, 6)}
    assert after == before  # the same pods, no container restarted: a hot reload
    assert moved < 5.0
    cluster.facts["pods"] = before


def test_certificates_rotate_under_load_without_a_failure(cluster: Cluster) -> None:
    """Once the renewal instant has passed, `pulumi up` issues every leaf anew; the Secrets
    change in place and the Envoys serve the new certificates, with no request lost."""
    _wait_until(cluster.facts["rotation_at"] + timedelta(seconds=1))
    _under_load(cluster, weight=100)
    assert _serving_serials(cluster).isdisjoint(cluster.facts["first_serials"])
    assert {p["metadata"]["uid"]: _restarts(p) for p in _wait_pods_ready(cluster, 6)} == (
        cluster.facts["pods"]
    )


def test_every_ca_rollover_stage_applied_by_pulumi_up_loses_no_request(cluster: Cluster) -> None:
    """`ca rotate` twice, each followed by `pulumi up`, then an `up` after the overlap (the
    program's clock moved on by 25 h): trust the next CA, issue from it, drop the old one."""
    ca = _pulumi_ca(cluster)
    assert main(["ca", "rotate", "--ca-file", str(ca)]) == 0  # 1. trust the next CA
    _under_load(cluster, weight=100)
    assert _bundle_size(cluster) == 2
    serials = _serving_serials(cluster)
    assert main(["ca", "rotate", "--ca-file", str(ca)]) == 0  # 2. issue from it
    _under_load(cluster, weight=100)
    assert _bundle_size(cluster) == 2 and _serving_serials(cluster).isdisjoint(serials)
    _under_load(cluster, weight=100, clock_offset="+25h")  # 3. the old CA is dropped
    assert _bundle_size(cluster) == 1
    assert {p["metadata"]["uid"]: _restarts(p) for p in _wait_pods_ready(cluster, 6)} == (
        cluster.facts["pods"]
    )


def _wait_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def _restarts(pod: dict[str, Any]) -> int:
    statuses = pod["status"]["containerStatuses"] + pod["status"]["initContainerStatuses"]
    return sum(s.get("restartCount", 0) for s in statuses)


def _until_only_v2(cluster: Cluster) -> float:
    """Seconds after `pulumi up` returned until bookbuyer's requests all go to v2."""
    started = time.monotonic()
    while time.monotonic() - started < 30:
        probe = cluster.send("bookbuyer/bookbuyer", BOOKS_BOUGHT, count=20, headers=BUYER_HEADERS)
        if probe.workloads() == {"bookstore-v2": 20}:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError("bookbuyer's requests never moved to bookstore-v2 alone")


def test_in_rollout_mode_a_weight_change_rolls_the_callers_without_a_failure(
    cluster: Cluster,
) -> None:
    """bookbuyer calls bookstore all along: from its old pod until that pod is told to
    terminate (the app stops calling then, as an app does on SIGTERM; its sidecar serves on
    through the app's shutdown delay), then from its new pod. Only pods whose proxy config
    changed roll: bookstore's one permitted caller."""
    _up(cluster, weight=100, updates="rollout")  # the mode itself changes every workload
    before = {_workload(p): p["metadata"]["uid"] for p in _wait_pods_ready(cluster, 6)}
    stops = Path(tempfile.mkdtemp(prefix="mesh-e2e-"))
    stops.chmod(0o755)  # the app's UID looks for the stop file there (/tmp is the host's)
    try:
        old = _pod_of(cluster, "bookbuyer")
        load = cluster.load(
            "bookbuyer/bookbuyer", BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=LOAD + 60,
            interval=0.02, stop_file=str(stops / "stop"),
        )  # fmt: skip
        with load as collect:
            watcher = threading.Thread(
                target=_stop_when_deleted, args=(cluster, old, stops / "stop")
            )
            watcher.start()
            _up(cluster, weight=0, updates="rollout")
            watcher.join(timeout=60)
            assert (stops / "stop").exists(), "the old bookbuyer pod was never deleted"
            calls = collect()
    finally:
        shutil.rmtree(stops)
    assert len(calls.results) > 100 and calls.failures() == [], calls.summary()
    after = {_workload(p): p["metadata"]["uid"] for p in _wait_pods_ready(cluster, 6)}
    rolled = {workload for workload in before if after[workload] != before[workload]}
    assert rolled == {"bookbuyer"}  # bookthief may call nothing, so its config is unchanged
    fresh = cluster.send("bookbuyer/bookbuyer", BOOKS_BOUGHT, count=40, headers=BUYER_HEADERS)
    assert fresh.statuses() == {"200": 40} and fresh.workloads() == {"bookstore-v1": 40}


def _workload(pod: dict[str, Any]) -> str:
    name: str = pod["metadata"]["name"]
    return name if name == "mysql-0" else name.rsplit("-", 2)[0]


def _pod_of(cluster: Cluster, namespace: str) -> str:
    (pod,) = [str(p["metadata"]["name"]) for p in cluster.items("pods", "-n", namespace)]
    return pod


def _stop_when_deleted(cluster: Cluster, name: str, stop: Path) -> None:
    """Create `stop` once pod `name` of bookbuyer is marked for deletion."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = cluster.kubectl("get", "pod", "-n", "bookbuyer", name, "-o", "json")
        if found.returncode != 0 or json.loads(found.stdout)["metadata"].get("deletionTimestamp"):
            stop.touch(mode=0o644)
            return
        time.sleep(0.2)


def test_service_accounts_nobody_declared_are_made_by_the_mesh(cluster: Cluster) -> None:
    """A program that names ServiceAccounts in its workloads and never declares them (as one
    written from docs/pulumi.md does): the Mesh creates them, so ServiceAccount admission, which
    refuses a pod whose account does not exist, admits every pod and the identities hold."""
    project = ROOT / "tests" / "projects" / "undeclared_accounts"
    workspace = Workspace(cluster.work / "accounts", KUBECONFIG=str(cluster.kubeconfig))
    secrets = {"ca": _ca(cluster).read_text()}
    up = workspace.run("up", project, secrets=secrets)
    assert up.ok, up.output[-3000:]
    accounts = {a["metadata"]["name"] for a in cluster.items("serviceaccounts", "-n", "accounts")}
    assert {"web", "caller"} <= accounts
    _wait_pods_ready(cluster, 2, timeout=30, namespaces=("accounts",))
    called = cluster.send("accounts/caller", "http://web.accounts/", count=10)
    assert called.statuses() == {"200": 10}
    assert called.identities() == {SPIFFE.format("accounts", "caller"): 10}
    assert workspace.run("destroy", project, secrets=secrets).ok
    _wait_mesh_gone(cluster, namespaces=("accounts",))


def test_pulumi_destroy_leaves_nothing_in_the_api_server_or_on_the_node(cluster: Cluster) -> None:
    workspace = Workspace(cluster.work / "pulumi", KUBECONFIG=str(cluster.kubeconfig))
    secrets = {"ca": _pulumi_ca(cluster).read_text()}
    destroyed = workspace.run("destroy", ROOT, config=HOT_RELOAD, secrets=secrets)
    assert destroyed.ok, destroyed.output[-3000:]
    _wait_mesh_gone(cluster)
    assert not list(cluster.layout.pods.iterdir())  # no pod directory, volume or log left
    netns = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    assert [n for n in netns.split() if cluster.layout.owns_netns(n)] == [cluster.layout.node_netns]
