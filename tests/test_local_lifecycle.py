"""`local up`, `status`, `curl` and `down` through the CLI, and what a cluster leaves behind:
nothing after `down`, nothing after a failed `up`. Root and Envoy needed (CI fails without).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, LocalRunnerError, cleanup
from mesh_components.local.layout import Layout
from mesh_components.local.network import BRIDGE
from mesh_components.local.processes import record, start_time, wait_gone
from tests.local_bookstore import BUYER_HEADERS, Bookstore, outsider, why_not

pytestmark = [pytest.mark.root, pytest.mark.envoy]


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    reason = why_not()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the local-runner tests)")
        pytest.skip(reason)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mesh_components", "local", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


def our_links(status: dict[str, Any]) -> set[str]:
    """The links our cluster made (each pod's veth, the node's bridge), by the names its
    status gives: all of them live in its node namespace, none should ever reach the host."""
    return {pod["veth"] for pod in status["pods"] if pod["veth"]} | {BRIDGE}


def our_mounts(cluster: str) -> list[str]:
    """The host's mounts that name this cluster's namespaces or state dir, and nothing else:
    another process may add or remove its own namespaces or mounts meanwhile."""
    layout = Layout(cluster)
    ours = (f"/run/netns/{layout.netns_prefix}", f"{layout.state}/", f"{layout.state} ")
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(line for line in lines if any(own in line for own in ours))


def test_up_curl_status_and_down_through_the_cli_leave_nothing_behind(tmp_path: Path) -> None:
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    bookstore = Bookstore.new(tmp_path / "specs")
    (rendered / "all.yaml").write_text(yaml.safe_dump_all(bookstore.objects()))
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "all.yaml").write_text(yaml.safe_dump_all(bookstore.objects(weights=(0, 100))))
    name = f"c{os.getpid() % 10**6}"
    links_before = host_links()
    assert our_mounts(name) == []
    up = cli("up", str(rendered), "--name", name)
    assert up.returncode == 0, up.stderr
    try:
        assert up.stdout.count(" Ready ") == 8, up.stdout
        layout = Layout(name)
        assert len(our_mounts(name)) == 9  # the node's and 8 pods' namespaces: the check sees ours
        links = our_links(json.loads(layout.status_file.read_text()))
        assert len(links) == 9 and not links & (host_links() - links_before)
        pids = [int(f.read_text().split()[0]) for f in layout.pids.glob("*.pid")]
        pids.append(int((layout.state / cleanup.DAEMON_PIDFILE).read_text().split()[0]))
        assert len(pids) == 8 + 7 + 1  # 8 apps, 7 sidecars, the runner
        headers = [f"-H{k}: {v}" for k, v in BUYER_HEADERS.items()]
        url = "http://bookstore.bookstore:14001/books-bought"
        curl = cli(
            "curl", "--name", name, "--from", "bookbuyer/bookbuyer", url, "-n", "40", *headers
        )
        assert curl.returncode == 0, curl.stderr
        assert "status 200: 40" in curl.stdout and "backend bookstore-v2:" in curl.stdout
        assert "identity seen spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer: 40" in curl.stdout
        assert "latency ms: p50" in curl.stdout
        denied = cli("curl", "--name", name, "--from", "bookthief/bookthief", url, "-n", "3")
        assert denied.returncode == 1 and "ConnectionRefusedError: 3" in denied.stdout
        update = cli("update", "--name", name, str(changed))
        assert update.returncode == 0, update.stderr
        assert "1 volumes swapped, 1 workloads rolled" in update.stdout, update.stdout
        after = cli(
            "curl", "--name", name, "--from", "bookbuyer/bookbuyer", url, "-n", "20", *headers
        )
        assert "backend bookstore-v2: 20" in after.stdout, after.stdout
    finally:
        down = cli("down", "--name", name)
    assert down.returncode == 0, down.stderr
    # At least 8 apps, 7 sidecars and the runner, the node's and 8 pods' namespaces; the pod the
    # update replaced may still be terminating, and counts too.
    counts = re.search(
        r"removed (\d+) processes, (\d+) network namespaces, the state dir", down.stdout
    )
    assert counts and int(counts[1]) >= 16 and int(counts[2]) >= 9, down.stdout
    assert cleanup.leftovers(layout) == []
    assert [pid for pid in pids if start_time(pid) is not None] == []
    assert not links & (host_links() - links_before)
    assert our_mounts(name) == []
    again = cli("down", "--name", name)
    assert again.returncode == 0 and "removed 0 processes, 0 network namespaces" in again.stdout


def test_down_removes_everything_even_after_the_runner_was_killed(tmp_path: Path) -> None:
    (tmp_path / "outsider.yaml").write_text(yaml.safe_dump_all(outsider()))
    name = f"k{os.getpid() % 10**6}"
    up = cli("up", str(tmp_path), "--name", name)
    assert up.returncode == 0, up.stderr
    layout = Layout(name)
    runner = int((layout.state / cleanup.DAEMON_PIDFILE).read_text().split()[0])
    pids = [int(f.read_text().split()[0]) for f in layout.pids.glob("*.pid")]
    assert len(pids) == 1
    os.kill(runner, signal.SIGKILL)
    assert wait_gone(runner, 5)
    status = cli("status", "--name", name)
    assert "its runner is not running" in status.stdout
    down = cli("down", "--name", name)
    assert down.returncode == 0, down.stderr
    assert "removed 1 processes, 2 network namespaces, the state dir" in down.stdout
    assert cleanup.leftovers(layout) == []
    assert all(start_time(pid) is None for pid in pids)


def test_down_in_process_counts_what_it_removed_and_others_namespaces_do_not_count() -> None:
    cluster = LocalCluster(f"d{os.getpid() % 10**6}")
    cluster.start(outsider())
    unrelated = f"mesh-unrelated-{os.getpid()}"  # another program's, made meanwhile
    subprocess.run(["ip", "netns", "add", unrelated], check=True)
    try:
        assert len(our_mounts(cluster.layout.cluster)) == 2
        removed = cluster.down()
        assert removed == cleanup.Removed(processes=1, namespaces=2, state=True)
        assert our_mounts(cluster.layout.cluster) == []
        assert cleanup.leftovers(cluster.layout) == []
    finally:
        subprocess.run(["ip", "netns", "delete", unrelated], check=True)


def test_a_failed_up_says_why_and_leaves_nothing_behind() -> None:
    container = {
        "name": "setup",
        "image": "busybox",
        "command": ["/bin/sh", "-c", "echo broken >&2; exit 3"],
    }
    spec = {"initContainers": [container], "containers": [{"name": "app", "image": "x"}]}
    meta = {"name": "doomed", "namespace": "x"}
    pod: Json = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    cluster = LocalCluster(f"f{os.getpid() % 10**6}")
    with pytest.raises(LocalRunnerError) as raised:
        cluster.start([pod], timeout=30)
    assert "init container setup exited 3" in str(raised.value)
    assert "broken" in str(raised.value)
    assert cleanup.leftovers(cluster.layout) == []


def test_a_pod_that_never_becomes_ready_fails_up_naming_it() -> None:
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    container = {"name": "app", "image": "x", "ports": [{"containerPort": 8080}],
                 "readinessProbe": probe}  # fmt: skip
    meta = {"name": "never", "namespace": "x"}
    pod: Json = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [container]},
    }
    cluster = LocalCluster(f"n{os.getpid() % 10**6}")
    with pytest.raises(LocalRunnerError) as raised:
        cluster.start([pod], timeout=4)
    assert "not Ready after 4 s" in str(raised.value) and "x/never" in str(raised.value)
    assert cleanup.leftovers(cluster.layout) == []


def test_unsupported_objects_are_refused_before_anything_is_created(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "shop"},
            }
        )
    )
    result = cli("up", str(tmp_path), "--name", "refused")
    assert result.returncode == 2
    assert "Ingress[shop/web]: [local-kind-unsupported]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Layout("refused").state.exists()


def test_cleaning_up_a_cluster_this_process_ran_never_kills_this_process(tmp_path: Path) -> None:
    layout = Layout("self", root=tmp_path)
    layout.state.mkdir(parents=True)
    record(os.getpid(), layout.state / cleanup.DAEMON_PIDFILE)
    assert cleanup.remove(layout).processes == 0
    assert not layout.state.exists()
