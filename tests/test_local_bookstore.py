"""The bookstore run locally with real Envoys: readiness, split, policy, mTLS on the wire,
hot reload, certificate rotation, a rejected config and a lost backend, all measured as traffic.

One cluster serves the whole module. Tests that change it (updates, deletions) come last and
leave it as they found it. Needs root, iproute2, iptables, util-linux, tcpdump and Envoy: in
CI their absence fails the module, elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.local import LocalCluster, Request, Traffic, cleanup
from mesh_components.local.pod import Pod
from mesh_components.local.traffic import finish
from mesh_components.pipeline import envoy_check
from tests.local_bookstore import (
    BOOKSTORE,
    BUYER_HEADERS,
    Bookstore,
    require_local_runner,
    tcp_streams,
    tls_records,
)

pytestmark = [pytest.mark.root, pytest.mark.envoy]

SPIFFE = "spiffe://cluster.local/ns/{}/sa/{}"
BOOKS_BOUGHT = f"{BOOKSTORE}/books-bought"


@pytest.fixture(scope="module")
def bookstore(tmp_path_factory: pytest.TempPathFactory) -> Bookstore:
    require_local_runner()
    return Bookstore.new(tmp_path_factory.mktemp("specs"))


@pytest.fixture(scope="module")
def cluster(bookstore: Bookstore) -> Iterator[LocalCluster]:
    with LocalCluster.up(bookstore.objects(), name=f"t{os.getpid() % 10**6}") as running:
        yield running
    assert cleanup.leftovers(running.layout) == []


def send(cluster: LocalCluster, source: str, url: str, **options: object) -> Traffic:
    return cluster.send(source, Request(url, **options))  # type: ignore[arg-type]


def only(pods: list[Pod]) -> Pod:
    assert len(pods) == 1, [p.id.name for p in pods]
    return pods[0]


def admin(cluster: LocalCluster, source: str | Pod, path: str) -> Json:
    """An Envoy admin answer, asked from inside the pod (admin binds 127.0.0.1 only)."""
    result = cluster.send(source, Request(f"http://127.0.0.1:15000{path}"))
    assert result.statuses() == {"200": 1}, result.results
    answer: Json = result.results[0]["answer"]
    return answer


# -- readiness --------------------------------------------------------------------------------


def test_every_pod_is_ready_with_the_real_envoy_as_the_proxy_uid(cluster: LocalCluster) -> None:
    pods = cluster.pods()
    workloads = sorted(p.id.workload for p in pods)
    assert workloads == [
        "Deployment/bookbuyer", "Deployment/bookstore-v1", "Deployment/bookstore-v1",
        "Deployment/bookstore-v2", "Deployment/bookthief", "Deployment/bookwarehouse",
        "Deployment/outsider", "StatefulSet/mysql",
    ]  # fmt: skip
    assert all(p.ready for p in pods)
    meshed = [p for p in pods if p.id.namespace != "outside"]
    envoy = envoy_check.find_envoy()
    assert envoy is not None
    envoy = envoy.resolve()
    for pod in meshed:
        proxy = only([c for c in pod.sidecars if c.name == "mesh-proxy"])
        assert proxy.pid is not None
        assert Path(f"/proc/{proxy.pid}/exe").resolve() == envoy
        status = Path(f"/proc/{proxy.pid}/status").read_text()
        assert "\nUid:\t1500\t1500\t1500\t1500\n" in status
        app = pod.app_container()
        assert app is not None and app.uid != 1500


# -- mTLS on the wire (first traffic test: the sidecars' connections are fresh) -----------------


def capture(cluster: LocalCluster, pod: Pod, pcap: Path) -> subprocess.Popen[str]:
    assert pod.link is not None
    argv = ["ip", "netns", "exec", cluster.network.netns, "tcpdump", "-i", pod.link.veth,
            "--immediate-mode", "-U", "-s", "0", "-Z", "root", "-w", str(pcap), "tcp"]  # fmt: skip
    dump = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert dump.stderr is not None
    line = dump.stderr.readline()
    assert "listening on" in line, line
    return dump


def stop_capture(dump: subprocess.Popen[str]) -> None:
    time.sleep(0.3)
    dump.send_signal(signal.SIGINT)
    dump.communicate(timeout=10)


def test_only_tls_crosses_the_wire_between_sidecars(cluster: LocalCluster, tmp_path: Path) -> None:
    marker = "plaintext-marker-7f3a9c"
    mysql = only(cluster.pods("bookwarehouse/mysql"))
    bookstore = only(cluster.pods("bookstore/bookstore-v2"))
    dumps = {
        "mysql": capture(cluster, mysql, tmp_path / "mysql.pcap"),
        "http": capture(cluster, bookstore, tmp_path / "http.pcap"),
    }
    tcp = send(cluster, "bookwarehouse/bookwarehouse", "mysql-0.mysql.bookwarehouse:3306",
               count=5, tcp=True, marker=marker)  # fmt: skip
    http = send(cluster, "bookbuyer/bookbuyer", f"{BOOKSTORE}/buy-a-book/new?{marker}", count=20)
    for dump in dumps.values():
        stop_capture(dump)
    assert tcp.statuses() == {"ok": 5}
    assert http.statuses() == {"200": 20}, http.results[:2]
    assert http.workloads()["bookstore-v2"] > 0
    for name in dumps:
        streams = tcp_streams(tmp_path / f"{name}.pcap")
        payloads = {flow: s for flow, s in streams.items() if s.data}
        everything = b"".join(s.data for s in payloads.values())
        assert payloads, f"{name}: nothing captured"
        assert marker.encode() not in everything
        assert b"HTTP/1.1" not in everything and b"hello from" not in everything
        fresh = [s for s in payloads.values() if s.saw_syn]
        assert fresh, f"{name}: no connection opened during the capture"
        for stream in fresh:
            records = tls_records(stream.data)
            assert records is not None, f"{name}: a stream is not TLS: {stream.data[:40]!r}"
            assert 23 in records  # application data
        clients = [s for (_, _, _, port), s in payloads.items() if port in (3306, 14001)]
        assert any(s.saw_syn and s.data[:3] == b"\x16\x03\x01" for s in clients)  # ClientHello


# -- split and policy -------------------------------------------------------------------------


def test_bookbuyer_traffic_is_split_evenly_between_the_versions(cluster: LocalCluster) -> None:
    result = send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=400, headers=BUYER_HEADERS)
    assert result.statuses() == {"200": 400}
    split = result.workloads()
    print(f"split over 400 requests: {dict(split)}; {result.summary().splitlines()[-1]}")
    assert (
        160 <= split["bookstore-v1"] <= 240 and split["bookstore-v1"] + split["bookstore-v2"] == 400
    )
    assert len([p for p in result.pods() if p.startswith("bookstore-v1-")]) == 2
    assert result.identities() == {SPIFFE.format("bookbuyer", "bookbuyer"): 400}


def test_bookbuyer_may_call_only_the_routes_the_policy_names(cluster: LocalCluster) -> None:
    allowed = [
        send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=10, headers=BUYER_HEADERS),
        send(cluster, "bookbuyer/bookbuyer", f"{BOOKSTORE}/buy-a-book/new", count=10),
    ]
    denied = [
        send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=10),  # headers missing
        send(
            cluster,
            "bookbuyer/bookbuyer",
            BOOKS_BOUGHT,
            count=10,
            headers=BUYER_HEADERS,
            method="POST",
        ),
        send(cluster, "bookbuyer/bookbuyer", f"{BOOKSTORE}/admin", count=10),
    ]
    assert [r.statuses() for r in allowed] == [{"200": 10}] * 2
    assert [r.statuses() for r in denied] == [{"403": 10}] * 3
    assert all("RBAC: access denied" in r["answer"]["text"] for d in denied for r in d.results)


def test_bookthief_reaches_nothing(cluster: LocalCluster) -> None:
    """bookthief is a source in no policy, so its sidecar has no outbound listener at all."""
    for url in (BOOKS_BOUGHT, f"http://{cluster.pods('bookstore/bookstore-v2')[0].ip}:14001/"):
        result = send(cluster, "bookthief/bookthief", url, count=20, headers=BUYER_HEADERS)
        assert result.statuses() == {"error: ConnectionRefusedError": 20}


def test_bookstore_may_restock_the_warehouse_and_nothing_else(cluster: LocalCluster) -> None:
    warehouse = "http://bookwarehouse.bookwarehouse:14001/restock-books"
    post = send(cluster, "bookstore/bookstore-v1", warehouse, count=10, method="POST")
    assert post.statuses() == {"200": 10}
    assert post.identities() == {SPIFFE.format("bookstore", "bookstore"): 10}
    assert send(cluster, "bookstore/bookstore-v1", warehouse, count=10).statuses() == {"403": 10}
    for other in ("bookstore/bookstore-v2", "bookbuyer/bookbuyer"):  # no policy names them
        statuses = send(cluster, other, warehouse, count=5, method="POST").statuses()
        assert not any(s.startswith("2") for s in statuses), (other, statuses)


def test_bookwarehouse_reaches_mysql_over_tcp_and_bookstore_does_not(
    cluster: LocalCluster,
) -> None:
    for host in ("mysql.bookwarehouse", "mysql-0.mysql.bookwarehouse.svc.cluster.local"):
        result = send(cluster, "bookwarehouse/bookwarehouse", f"{host}:3306", count=10, tcp=True)
        assert result.statuses() == {"ok": 10} and result.pods() == {"mysql-0": 10}
    denied = send(cluster, "bookstore/bookstore-v1", "mysql.bookwarehouse:3306", count=5, tcp=True)
    assert denied.statuses()["ok"] == 0


def test_plaintext_from_outside_the_mesh_is_rejected(cluster: LocalCluster) -> None:
    own = send(cluster, "outside/outsider", "http://outsider.outside/", count=10)
    assert own.statuses() == {"200": 10}  # a ClusterIP through kube-proxy's DNAT, hairpinned
    targets = [f"http://{p.ip}:{port['containerPort']}/"
               for p in cluster.pods() if p.id.namespace != "outside"
               for c in p.spec["containers"] for port in c.get("ports", [])]  # fmt: skip
    assert len(targets) == 5
    for url in [*targets, BOOKS_BOUGHT]:
        result = send(cluster, "outside/outsider", url, count=3)
        statuses = result.statuses()
        assert not any(s[0].isdigit() for s in statuses), (url, statuses)  # no HTTP answer
        assert "error: ConnectionRefusedError" not in statuses, (url, statuses)  # it listened


# -- changes (last: each leaves the cluster as it found it) -----------------------------------


def test_an_update_missing_a_mounted_config_map_is_refused_and_changes_nothing(
    cluster: LocalCluster, bookstore: Bookstore
) -> None:
    objects = [o for o in bookstore.objects(weights=(100, 0)) if not _is_buyer_config(o)]
    pods = {p.id.name for p in cluster.pods()}
    with pytest.raises(MeshValidationError) as raised:
        cluster.update(objects)
    assert raised.value.codes == ("local-volume-source-missing",)
    assert "ConfigMap bookbuyer/bookbuyer-mesh-proxy" in str(raised.value)
    assert {p.id.name for p in cluster.pods()} == pods
    result = send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=100, headers=BUYER_HEADERS)
    assert set(result.workloads()) == {"bookstore-v1", "bookstore-v2"}  # still the old split


def _is_buyer_config(obj: Json) -> bool:
    return obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "bookbuyer-mesh-proxy"


def test_an_invalid_config_is_rejected_by_envoy_and_traffic_keeps_flowing(
    cluster: LocalCluster, bookstore: Bookstore
) -> None:
    good = bookstore.objects()
    bad = [_broken_listener(obj) for obj in good]
    buyer = only(cluster.pods("bookbuyer/bookbuyer"))
    before = _rejected(cluster, buyer)
    report = cluster.update(bad)
    assert report.rolled == [] and any("bookbuyer" in v for v in report.volumes)
    assert report.rejected == [
        f"bookbuyer/{buyer.id.name}: listener_manager.lds.update_rejected +1"
    ]
    deadline = time.monotonic() + 5
    while _rejected(cluster, buyer) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _rejected(cluster, buyer) == before + 1
    result = send(cluster, buyer, BOOKS_BOUGHT, count=50, headers=BUYER_HEADERS)
    assert result.statuses() == {"200": 50}
    assert cluster.update(good).rejected == []


def _broken_listener(obj: Json) -> Json:
    if not _is_buyer_config(obj):
        return obj
    lds = obj["data"]["lds.yaml"]
    assert "port_value: 15001" in lds
    return {
        **obj,
        "data": {
            **obj["data"],
            "lds.yaml": lds.replace("port_value: 15001", "port_value: 99999999"),
        },
    }


def _rejected(cluster: LocalCluster, pod: Pod) -> int:
    answer = admin(cluster, pod, "/stats?filter=^listener_manager.lds.update_rejected$")
    name, _, value = answer["text"].strip().partition(": ")
    assert name == "listener_manager.lds.update_rejected", answer
    return int(value)


def test_a_split_change_reaches_the_running_sidecar_within_two_seconds(
    cluster: LocalCluster, bookstore: Bookstore
) -> None:
    load = cluster.start_traffic(
        "bookbuyer/bookbuyer",
        Request(BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=6.0, interval=0.005),
    )
    time.sleep(1.0)
    swapped = time.time()
    report = cluster.update(bookstore.objects(weights=(100, 0)))
    result = finish(load)
    assert report.rolled == ["bookbuyer/Deployment/bookbuyer"]  # the config hash changed
    assert result.failures() == []
    before = [r for r in result.results if r["time"] < swapped]
    after = [r for r in result.results if r["time"] >= swapped + 2.0]
    assert len(before) > 50 and len(after) > 50
    assert {r["answer"]["workload"] for r in before} == {"bookstore-v1", "bookstore-v2"}
    assert {r["answer"]["workload"] for r in after} == {"bookstore-v1"}
    last_v2 = max(r["time"] for r in result.results if r["answer"]["workload"] == "bookstore-v2")
    print(
        f"split 100/0: last answer from v2 {last_v2 - swapped:.3f} s after the update began, "
        f"{last_v2 - report.swapped_at:.3f} s after the swap"
    )
    fresh = send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=50, headers=BUYER_HEADERS)
    assert fresh.workloads() == {"bookstore-v1": 50}
    cluster.update(bookstore.objects())
    back = send(cluster, "bookbuyer/bookbuyer", BOOKS_BOUGHT, count=100, headers=BUYER_HEADERS)
    assert set(back.workloads()) == {"bookstore-v1", "bookstore-v2"}


def test_rotated_certificates_are_picked_up_without_restarts_or_failures(
    cluster: LocalCluster, bookstore: Bookstore
) -> None:
    rotated = bookstore.objects(rotated=True)
    buyer = only(cluster.pods("bookbuyer/bookbuyer"))
    proxies = {p.id.name: p.sidecars[0].pid for p in cluster.pods() if p.sidecars}
    serial = _serial(cluster, buyer)
    load = cluster.start_traffic(
        buyer, Request(BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=4.0, interval=0.005)
    )
    time.sleep(1.0)
    report = cluster.update(rotated)
    result = finish(load)
    assert report.rolled == [] and len(report.volumes) >= 6
    assert result.failures() == [] and len(result.results) > 100
    assert _serial(cluster, buyer) != serial
    assert {p.id.name: p.sidecars[0].pid for p in cluster.pods() if p.sidecars} == proxies
    after = send(cluster, buyer, BOOKS_BOUGHT, count=50, headers=BUYER_HEADERS)
    assert after.statuses() == {"200": 50}


def _serial(cluster: LocalCluster, pod: Pod) -> str:
    certs = admin(cluster, pod, "/certs")["certificates"]
    serials = {c["serial_number"] for entry in certs for c in entry["cert_chain"]}
    assert len(serials) == 1, serials
    return serials.pop()


def test_losing_a_backend_pod_fails_no_request(cluster: LocalCluster) -> None:
    victim = cluster.pods("bookstore/bookstore-v1")[0]
    load = cluster.start_traffic(
        "bookbuyer/bookbuyer",
        Request(BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=14.0, interval=0.01),
    )
    time.sleep(1.0)
    deleted = time.time()
    cluster.delete_pod(victim)
    result = finish(load)
    assert result.failures() == [], [(r["time"] - deleted, r) for r in result.failures()]
    assert result.pods()[victim.id.name] > 0
    last = max(r["time"] for r in result.results if r["answer"]["pod"] == victim.id.name)
    print(f"pod deleted: its last answer {last - deleted:.2f} s later, no failures")
    late = [r["answer"]["pod"] for r in result.results if r["time"] > deleted + 11.0]
    assert late and victim.id.name not in late  # it left the endpoints, then stopped
    cluster.wait_ready(60)
    assert len(cluster.pods("bookstore/bookstore-v1")) == 2  # the ReplicaSet replaced it
