"""A CA rollover in the local data plane, with real Envoys and live traffic: through each stage
(trust the next CA, issue from it, drop the old one) bookbuyer's requests to bookstore keep
succeeding, and no sidecar restarts. Needs what the other local-runner tests need.

The runner swaps every pod's Secret within milliseconds and the sidecars keep their pooled
connections, so this test cannot show the outage a skipped stage causes while a kubelet
propagates Secrets pod by pod over a minute: tests/test_rollover.py shows that with real
handshakes between peers one stage apart, and a skipped stage failing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local import LocalCluster, Request, cleanup
from mesh_components.local.traffic import finish
from mesh_components.model import Identity
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import MeshCA, MeshTrust, ca_file
from tests.local_bookstore import BOOKSTORE, BUYER_HEADERS, why_not

pytestmark = [pytest.mark.root, pytest.mark.envoy]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bookstore"
BOOKS_BOUGHT = f"{BOOKSTORE}/books-bought"


def new_ca(start: datetime) -> MeshCA:
    seed = ca_file.new_seed(start)
    return MeshCA.from_seed(seed.seed, trust_domain="cluster.local", not_before=seed.not_before)


def objects(trust: MeshTrust) -> list[Json]:
    return list(render(read_spec(EXAMPLE), trust, datetime.now(UTC)).objects)


@pytest.fixture(scope="module")
def cas() -> tuple[MeshCA, MeshCA]:
    reason = why_not()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the local-runner tests)")
        pytest.skip(reason)
    now = datetime.now(UTC)
    return new_ca(now - timedelta(days=1)), new_ca(now - timedelta(seconds=5))


@pytest.fixture(scope="module")
def cluster(cas: tuple[MeshCA, MeshCA]) -> Iterator[LocalCluster]:
    old, _ = cas
    name = f"r{os.getpid() % 10**6}"
    with LocalCluster.up(objects(MeshTrust(issuer=old)), name=name) as running:
        yield running
    assert cleanup.leftovers(running.layout) == []


def test_every_stage_of_a_ca_rollover_keeps_traffic_flowing(
    cluster: LocalCluster, cas: tuple[MeshCA, MeshCA]
) -> None:
    old, new = cas
    until = datetime.now(UTC) + timedelta(hours=1)
    stages = [
        ("trust the next CA", MeshTrust(issuer=old, next=new)),
        ("issue from it", MeshTrust(issuer=new, previous=old, previous_trusted_until=until)),
        ("drop the old CA", MeshTrust(issuer=new)),
    ]
    proxies = {p.id.name: p.sidecars[0].pid for p in cluster.pods() if p.sidecars}
    for stage, trust in stages:
        load = cluster.start_traffic(
            "bookbuyer/bookbuyer",
            Request(BOOKS_BOUGHT, headers=BUYER_HEADERS, duration=4.0, interval=0.01),
        )
        report = cluster.update(objects(trust))
        result = finish(load)
        assert report.rolled == [], stage
        assert result.failures() == [], stage
        assert len(result.results) > 100, stage
        after = cluster.send(
            "bookbuyer/bookbuyer", Request(BOOKS_BOUGHT, headers=BUYER_HEADERS, count=40)
        )
        assert after.statuses() == {"200": 40}, stage
    assert {p.id.name: p.sidecars[0].pid for p in cluster.pods() if p.sidecars} == proxies
    expected = MeshTrust(issuer=new).issue(Identity("bookbuyer", "bookbuyer"), datetime.now(UTC))
    assert _serving_serials(cluster) == {format(expected.serial, "x")}


def _serving_serials(cluster: LocalCluster) -> set[str]:
    """The leaf serials bookbuyer's Envoy serves now (from its admin, inside the pod)."""
    result = cluster.send("bookbuyer/bookbuyer", Request("http://127.0.0.1:15000/certs"))
    certificates = result.results[0]["answer"]["certificates"]
    return {c["serial_number"].lstrip("0") for e in certificates for c in e["cert_chain"]}
