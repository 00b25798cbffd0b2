"""Istio's and Linkerd's public demos, rendered unedited and run together in one local cluster
(issue 19): every pod Ready, each call the demo's apps make answered under the caller's SPIFFE
identity (gRPC ones too), and every pod's metrics scraped the way Prometheus scrapes them, from
outside the mesh at the port and path its annotations name. Root and Envoy needed (CI fails
without them)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from mesh_components.local import LocalCluster, Request
from tests.local_bookstore import outsider, require_local_runner, scrape
from tests.public_demos import ALL, render

pytestmark = [pytest.mark.root, pytest.mark.envoy]

SPIFFE = "spiffe://cluster.local/ns/{}/sa/{}"
GRPC_OK = {"OK": 5}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    require_local_runner()
    work = tmp_path_factory.mktemp("public-demos")
    ca = work / "ca.secret.yaml"
    objects = [obj for demo in ALL for obj in render(demo, work, ca)]
    with LocalCluster.up([*objects, *outsider()], name=f"p{os.getpid() % 10**6}") as running:
        yield running


def call(
    cluster: LocalCluster, source: str, url: str, count: int = 5, **options: object
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(statuses, answering workloads, identities seen) of `count` calls from `source`."""
    found = cluster.send(source, Request(url, count=count, **options))  # type: ignore[arg-type]
    return dict(found.statuses()), dict(found.workloads()), dict(found.identities())


def test_every_pod_of_every_demo_is_ready(cluster: LocalCluster) -> None:
    pods = [p for p in cluster.pods() if p.id.namespace != "outside"]
    assert len(pods) == 6 + 4 + 4 + 6  # bookinfo, the samples, emojivoto, booksapp (3 webapps)
    assert [f"{p.id.namespace}/{p.id.name}" for p in pods if not p.ready] == []


def test_bookinfo_calls_are_answered_under_the_callers_identity(cluster: LocalCluster) -> None:
    page = SPIFFE.format("bookinfo", "bookinfo-productpage")
    details = call(cluster, "bookinfo/productpage-v1", "http://details:9080/details/0")
    assert details == ({"200": 5}, {"details-v1": 5}, {page: 5})
    statuses, versions, seen = call(
        cluster, "bookinfo/productpage-v1", "http://reviews:9080/reviews/0", count=30
    )
    assert statuses == {"200": 30} and seen == {page: 30}
    assert set(versions) == {"reviews-v1", "reviews-v2", "reviews-v3"}
    for version in ("reviews-v2", "reviews-v3"):  # the versions that show ratings call them
        ratings = call(cluster, f"bookinfo/{version}", "http://ratings:9080/ratings/0")
        reviews = SPIFFE.format("bookinfo", "bookinfo-reviews")
        assert ratings == ({"200": 5}, {"ratings-v1": 5}, {reviews: 5})


def test_istios_samples_answer_curl_and_pods_without_an_account_are_default(
    cluster: LocalCluster,
) -> None:
    curl = SPIFFE.format("sample", "curl")
    statuses, versions, seen = call(
        cluster, "sample/curl", "http://helloworld:5000/hello", count=20
    )
    assert statuses == {"200": 20} and seen == {curl: 20}
    assert set(versions) == {"helloworld-v1", "helloworld-v2"}
    httpbin = call(cluster, "sample/curl", "http://httpbin:8000/get")
    assert httpbin == ({"200": 5}, {"httpbin": 5}, {curl: 5})
    default = SPIFFE.format("sample", "default")  # helloworld names no ServiceAccount
    back = call(cluster, "sample/helloworld-v1", "http://httpbin.sample:8000/status/200")
    assert back == ({"200": 5}, {"httpbin": 5}, {default: 5})


def test_emojivoto_votes_over_http_and_grpc(cluster: LocalCluster) -> None:
    bot = SPIFFE.format("emojivoto", "default")  # vote-bot names no ServiceAccount
    web = call(cluster, "emojivoto/vote-bot", "http://web-svc.emojivoto:80/api/list")
    assert web == ({"200": 5}, {"web": 5}, {bot: 5})
    caller = SPIFFE.format("emojivoto", "web")
    for service, method in (
        ("emoji-svc", "emojivoto.v1.EmojiService/ListAll"),
        ("voting-svc", "emojivoto.v1.VotingService/VoteDoughnut"),
    ):
        url = f"grpc://{service}.emojivoto:8080/{method}"
        workload = service.removesuffix("-svc")
        assert call(cluster, "emojivoto/web", url) == (GRPC_OK, {workload: 5}, {caller: 5})


def test_booksapp_calls_are_answered_under_the_callers_identity(cluster: LocalCluster) -> None:
    traffic = SPIFFE.format("booksapp", "traffic")
    statuses, workloads, seen = call(cluster, "booksapp/traffic", "http://webapp:7000/", count=30)
    assert statuses == {"200": 30} and workloads == {"webapp": 30} and seen == {traffic: 30}
    webapp = SPIFFE.format("booksapp", "webapp")
    for url, workload in (
        ("http://authors:7001/authors.json", "authors"),
        ("http://books:7002/books.json", "books"),
    ):
        assert call(cluster, "booksapp/webapp", url) == ({"200": 5}, {workload: 5}, {webapp: 5})
    head = call(cluster, "booksapp/books", "http://authors:7001/authors/1.json", method="HEAD")
    assert head[0] == {"200": 5}  # books checks an author exists; a HEAD answer has no body
    post = call(cluster, "booksapp/webapp", "http://books:7002/books.json", method="POST")
    assert post == ({"200": 5}, {"books": 5}, {webapp: 5})


def test_every_meshed_pod_is_scraped_and_an_apps_own_metrics_come_with_its_sidecars(
    cluster: LocalCluster,
) -> None:
    for pod in (p for p in cluster.pods() if p.id.namespace != "outside"):
        text = scrape(cluster, pod)
        assert re.search(r"^envoy_server_live\{?.*\}? 1$", text, re.M), pod.id
        app = f'stub_app_info{{pod="{pod.id.name}",namespace="{pod.id.namespace}",port="9080"}} 1'
        # productpage alone declares its own metrics (prometheus.io/port 9080, /metrics).
        assert (app in text) == pod.id.name.startswith("productpage-v1"), pod.id
