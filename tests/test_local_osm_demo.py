"""OSM's unmodified demo manifests and SMI resources, rendered by `render DIR` and run locally:
every pod Ready, the SMI split, the TrafficTargets enforced, mysql over TCP. Root and Envoy
needed (CI fails without them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mesh_components.cli import main
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, Request
from tests.local_bookstore import BUYER_HEADERS, outsider, scrape, why_not

pytestmark = [pytest.mark.root, pytest.mark.envoy]

OSM_DEMO = Path(__file__).parent / "goldens_smi" / "osm-demo-input"
FLAGS = ["--namespaces", "bookbuyer,bookstore,bookthief,bookwarehouse", "--access", "policy"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    reason = why_not()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the local-runner tests)")
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("osm-demo")
    ca = ["--ca-file", str(work / "ca.secret.yaml"), "--new-ca"]
    assert main(["render", str(OSM_DEMO), "-o", str(work / "out"), *ca, *FLAGS]) == 0
    objects: list[Json] = [
        doc
        for file in sorted((work / "out").rglob("*.yaml"))
        for doc in yaml.safe_load_all(file.read_text())
        if doc
    ]
    with LocalCluster.up([*objects, *outsider()], name=f"o{os.getpid() % 10**6}") as running:
        yield running


def test_osms_demo_runs_with_its_split_and_its_traffic_targets(cluster: LocalCluster) -> None:
    workloads = sorted(p.id.workload for p in cluster.pods() if p.id.namespace != "outside")
    assert workloads == [
        "Deployment/bookbuyer", "Deployment/bookstore", "Deployment/bookstore-v2",
        "Deployment/bookthief", "Deployment/bookwarehouse", "StatefulSet/mysql",
    ]  # fmt: skip
    assert all(p.ready for p in cluster.pods())
    url = "http://bookstore.bookstore:14001/books-bought"
    split = cluster.send("bookbuyer/bookbuyer", Request(url, count=200, headers=BUYER_HEADERS))
    assert split.statuses() == {"200": 200}
    assert 70 <= split.workloads()["bookstore"] <= 130  # OSM's split-50-50
    thief = cluster.send("bookthief/bookthief", Request(url, count=5, headers=BUYER_HEADERS))
    assert thief.statuses() == {"error: ConnectionRefusedError": 5}
    restock = "http://bookwarehouse.bookwarehouse:14001/restock-books"
    post = cluster.send("bookstore/bookstore", Request(restock, count=5, method="POST"))
    assert post.statuses() == {"200": 5}
    assert cluster.send("bookstore/bookstore", Request(restock, count=5)).statuses() == {"403": 5}
    mysql = cluster.send(
        "bookwarehouse/bookwarehouse", Request("mysql.bookwarehouse:3306", count=5, tcp=True)
    )
    assert mysql.statuses() == {"ok": 5}


def test_every_pod_of_osms_demo_is_scraped_by_prometheus_from_outside_the_mesh(
    cluster: LocalCluster,
) -> None:
    meshed = [p for p in cluster.pods() if p.id.namespace != "outside"]
    assert len(meshed) == 6
    for pod in meshed:
        assert "envoy_server_live" in scrape(cluster, pod), pod.id
