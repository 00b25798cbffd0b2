"""The app's own metrics behind strict mTLS (issue 19): a pod that asks Prometheus to scrape
its app gets the app's metrics served after the sidecar's on the sidecar's plaintext port, its
annotations pointed there, and a note saying so. A real Envoy serves the merged page.
"""

from __future__ import annotations

import copy
import dataclasses
import http.server
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.compiler import compile_mesh
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy import emit_workload
from mesh_components.emit.envoy.consistency import InconsistentConfigError, check
from mesh_components.emit.envoy.metrics import FETCH_TIMEOUT_MS
from mesh_components.emit.kubernetes.inject import inject_pod_template, uninjected
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.model import (
    AppMetrics,
    MeshSettings,
    MeshSpec,
    ScrapeDecision,
    Scraping,
    labels,
    scrape_decision,
)
from mesh_components.pipeline.injection import inject_all
from mesh_components.validate import MeshNote, SpecWarning, find_notes, find_problems, validate
from tests.envoy_tool import http_get
from tests.prometheus_text import parsed
from tests.specs import base_spec, change_proxy, change_workload
from tests.test_inject import BINDING, NATIVE, manifest, template_of
from tests.test_probes import live_settings, plan, static_envoy
from tests.test_render import NOW, make_ca

SCRAPE, PORT, PATH, SCHEME = (
    "prometheus.io/scrape",
    "prometheus.io/port",
    "prometheus.io/path",
    "prometheus.io/scheme",
)
MERGED = {SCRAPE: "true", PORT: "8080"}
SIDECAR = {SCRAPE: "true", PORT: "15010", PATH: "/stats/prometheus"}
NOTE = (
    r"shop/web-v1: the app's metrics \(port 8080, /metrics\) are served with the sidecar's on "
    r":15010/stats/prometheus; the pod's prometheus\.io annotations now point there"
)


def spec_with(annotations: dict[str, str]) -> MeshSpec:
    """The test mesh with web-v1's pods annotated (its app serves HTTP on 8080)."""
    return change_workload(base_spec(), "shop/web-v1", annotations=labels(annotations))


# What the annotations ask for.


@pytest.mark.parametrize(
    ("annotations", "scraping", "app"),
    [
        ({}, Scraping.SIDECAR, None),
        ({"team": "books"}, Scraping.SIDECAR, None),
        (MERGED, Scraping.MERGED, AppMetrics(8080, "/metrics")),
        ({PORT: "9090", PATH: "/m"}, Scraping.MERGED, AppMetrics(9090, "/m")),  # a port is intent
        ({**MERGED, SCHEME: "HTTP"}, Scraping.MERGED, AppMetrics(8080, "/metrics")),
        ({SCRAPE: "true"}, Scraping.SIDECAR_ONLY, None),
        ({SCRAPE: "false", PORT: "8080"}, Scraping.AS_WRITTEN, None),
        ({PATH: "/metrics"}, Scraping.AS_WRITTEN, None),
        ({**MERGED, SCHEME: "https"}, Scraping.AS_WRITTEN, None),
    ],
)
def test_the_pods_prometheus_annotations_decide_what_is_scraped(
    annotations: dict[str, str], scraping: Scraping, app: AppMetrics | None
) -> None:
    assert scrape_decision(annotations) == ScrapeDecision(scraping, app)


@pytest.mark.parametrize(
    ("annotations", "key", "code"),
    [
        ({**MERGED, PORT: "metrics"}, PORT, "annotation-invalid"),
        ({**MERGED, PORT: "70000"}, PORT, "annotation-invalid"),
        ({**MERGED, PORT: "15001"}, PORT, "port-reserved"),
        ({**MERGED, PORT: "15010"}, PORT, "port-reserved"),
        ({**MERGED, PATH: "metrics"}, PATH, "annotation-invalid"),
        ({**MERGED, PATH: '/m"etrics'}, PATH, "annotation-invalid"),
        ({**MERGED, SCHEME: "ftp"}, SCHEME, "annotation-invalid"),
    ],
)
def test_a_bad_metrics_annotation_is_refused_at_its_key_in_a_spec_and_in_a_manifest(
    annotations: dict[str, str], key: str, code: str
) -> None:
    (problem,) = find_problems(spec_with(annotations))
    assert (problem.code, problem.path) == (code, f"workloads[shop/web-v1].annotations[{key}]")
    assert problem.fix
    with pytest.raises(MeshValidationError) as raised:
        inject_pod_template(
            template_of(manifest("Deployment", annotations=annotations)), NATIVE, BINDING
        )
    assert {(p.code, p.path) for p in raised.value.problems} == {
        (code, f"metadata.annotations[{key}]")
    }


def test_annotations_of_a_pod_that_asks_for_no_scraping_are_not_read() -> None:
    assert find_problems(spec_with({SCRAPE: "false", PORT: "metrics"})) == ()


# The compiled config.


def test_a_merged_workload_gets_the_lua_filter_its_route_context_and_a_metrics_cluster() -> None:
    with pytest.warns(MeshNote, match=NOTE):
        workload = _plan(spec_with(MERGED), "web-v1")
    assert workload.app_metrics == AppMetrics(8080, "/metrics")
    config = emit_workload(workload, base_spec().settings)
    listener = next(x for x in config.listeners if x["name"] == names.PROMETHEUS_LISTENER)
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.lua",
        "envoy.filters.http.router",
    ]
    scrape, ready, other = manager["route_config"]["virtual_hosts"][0]["routes"]
    context = scrape["typed_per_filter_config"]["envoy.filters.http.lua"]["filter_context"]
    assert context == {
        "admin_cluster": names.ADMIN_CLUSTER,
        "app_cluster": "local-metrics|8080",
        "app_path": "/metrics",
        "app_url": "http://127.0.0.1:8080/metrics",
        "timeout_ms": FETCH_TIMEOUT_MS,
    }
    for route in (ready, other):
        assert route["typed_per_filter_config"]["envoy.filters.http.lua"]["disabled"] is True
    cluster = next(c for c in config.clusters if c["name"] == "local-metrics|8080")
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8080}
    assert "typed_extension_protocol_options" not in cluster  # HTTP/1.1 whatever the app speaks


def test_a_workload_without_app_metrics_keeps_the_prometheus_listener_as_before() -> None:
    settings = base_spec().settings
    plain = _plan(base_spec(), "web-v1")
    annotated = _plan(spec_with({"team": "books"}), "web-v1")
    assert plain.app_metrics is None and annotated.app_metrics is None
    config = emit_workload(annotated, settings)
    assert config.files() == emit_workload(plain, settings).files()
    assert "lua" not in config.files()[names.LDS_FILE]
    assert not [c for c in config.clusters if c["name"].startswith("local-metrics")]


def test_a_lua_call_to_a_missing_cluster_is_inconsistent() -> None:
    with pytest.warns(MeshNote):
        workload = _plan(spec_with(MERGED), "web-v1")
    config = emit_workload(workload, base_spec().settings)
    broken = dataclasses.replace(
        config, clusters=tuple(c for c in config.clusters if c["name"] != "local-metrics|8080")
    )
    with pytest.raises(InconsistentConfigError, match="Lua filter call missing cluster"):
        check(broken)


def test_a_route_context_without_a_cluster_key_is_inconsistent_not_skipped() -> None:
    with pytest.warns(MeshNote):
        workload = _plan(spec_with(MERGED), "web-v1")
    config = emit_workload(workload, base_spec().settings)
    listeners = copy.deepcopy(config.listeners)
    contexts = [m["filter_context"] for m in _messages(listeners) if "filter_context" in m]
    assert len(contexts) == 1
    del contexts[0]["app_cluster"]
    with pytest.raises(InconsistentConfigError, match="Lua filter call missing cluster"):
        check(dataclasses.replace(config, listeners=listeners))


def _messages(node: object) -> Iterator[dict[str, Any]]:
    """Every mapping in a config tree."""
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list | tuple):
        for item in node:
            yield from _messages(item)


def _plan(spec: MeshSpec, name: str) -> WorkloadPlan:
    """The plan of workload `name`, built as the pipeline builds it (`validate` issues notes)."""
    return next(w for w in compile_mesh(validate(spec)).workloads if w.workload.name == name)


# Injection: the pod's annotations.


def test_injection_points_a_merged_pod_at_the_sidecar_and_records_its_own() -> None:
    template = template_of(manifest("Deployment", annotations={**MERGED, SCHEME: "http"}))
    annotations = inject_pod_template(template, NATIVE, BINDING)["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")} == SIDECAR
    recorded = json.loads(annotations[names.APP_METRICS_ANNOTATION])
    assert recorded == {**MERGED, SCHEME: "http"}


def test_injecting_an_injected_pod_restores_its_own_annotations_first() -> None:
    template = template_of(manifest("Deployment", annotations={**MERGED, "team": "books"}))
    once = inject_pod_template(template, NATIVE, BINDING)
    assert inject_pod_template(once, NATIVE, BINDING) == once
    restored = uninjected(once)["metadata"]["annotations"]
    assert restored == {**MERGED, "team": "books"}  # never the sidecar's own port to merge


def test_a_pod_without_prometheus_annotations_is_annotated_for_the_sidecar_as_before() -> None:
    template = template_of(manifest("Deployment", annotations={"team": "books"}))
    annotations = inject_pod_template(template, NATIVE, BINDING)["metadata"]["annotations"]
    assert names.APP_METRICS_ANNOTATION not in annotations
    assert list(annotations)[-3:] == [SCRAPE, PORT, PATH]
    assert {k: annotations[k] for k in (SCRAPE, PORT, PATH)} == SIDECAR


@pytest.mark.parametrize(
    "own", [{SCRAPE: "false", PORT: "8080"}, {**MERGED, SCHEME: "https"}, {PATH: "/metrics"}]
)
def test_a_pod_that_asks_for_no_mergeable_scraping_keeps_its_annotations(
    own: dict[str, str],
) -> None:
    template = template_of(manifest("Deployment", annotations=own))
    once = inject_pod_template(template, NATIVE, BINDING)
    annotations = once["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")} == own
    assert names.APP_METRICS_ANNOTATION not in annotations
    assert inject_pod_template(once, NATIVE, BINDING) == once


def test_a_mangled_record_is_a_problem_at_the_annotation_not_a_traceback() -> None:
    template = template_of(manifest("Deployment", annotations=MERGED))
    once = inject_pod_template(template, NATIVE, BINDING)
    once["metadata"]["annotations"][names.APP_METRICS_ANNOTATION] = '{"other": 1}'
    with pytest.raises(MeshValidationError) as raised:
        inject_pod_template(once, NATIVE, BINDING)
    (problem,) = raised.value.problems
    assert problem.path == f"metadata.annotations[{names.APP_METRICS_ANNOTATION}]"
    assert problem.code == "manifest-invalid"


# The pipeline: what the user is told.


def web_v1(annotations: dict[str, str]) -> Json:
    template = {
        "metadata": {"labels": {"app": "web", "version": "v1"}, "annotations": annotations},
        "spec": {
            "serviceAccountName": "web",
            "containers": [
                {
                    "name": "web",
                    "image": "web:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
            ],
        },
    }
    spec = {"selector": {"matchLabels": {"app": "web", "version": "v1"}}, "template": template}
    meta = {"name": "web-v1", "namespace": "shop"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def test_inject_notes_each_merged_workload_and_a_second_inject_changes_nothing() -> None:
    ca = make_ca()
    with pytest.warns(MeshNote, match=NOTE):
        once = inject_all([web_v1(MERGED)], base_spec(), ca, NOW)
    deployment = once[0]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert {k: annotations[k] for k in (SCRAPE, PORT, PATH)} == SIDECAR
    config_map = next(o for o in once if o["metadata"]["name"] == "web-v1-mesh-proxy")
    assert "local-metrics|8080" in config_map["data"][names.CDS_FILE]
    with pytest.warns(MeshNote, match=NOTE):
        assert inject_all(once, base_spec(), ca, NOW) == once


def test_scraping_without_a_port_warns_and_scrapes_the_sidecar_alone() -> None:
    with pytest.warns(SpecWarning, match=r"\[metrics-port-missing\].*only the sidecar's"):
        out = inject_all([web_v1({SCRAPE: "true"})], base_spec(), make_ca(), NOW)
    annotations = out[0]["spec"]["template"]["metadata"]["annotations"]
    assert {k: annotations[k] for k in (SCRAPE, PORT, PATH)} == SIDECAR


def test_https_metrics_warn_unless_their_port_is_excluded_and_then_a_note_says_so() -> None:
    https = {**MERGED, SCHEME: "https"}
    with pytest.warns(SpecWarning, match=r"\[metrics-not-merged\].*inbound-port-exclusions"):
        validate(spec_with(https))
    exempt = {**https, names.INBOUND_PORT_EXCLUSIONS_ANNOTATION: "8080"}
    assert find_notes(spec_with(exempt)) == (
        "shop/web-v1: the app's HTTPS metrics (port 8080) are scraped directly, outside mTLS, "
        "as the port is excluded from interception; the sidecar's own are on "
        ":15010/stats/prometheus, unannotated",
    )
    mesh_wide = change_proxy(
        spec_with(https),
        interception=dataclasses.replace(
            base_spec().settings.proxy.interception, inbound_port_exclusions=(8080,)
        ),
    )
    assert len(find_notes(mesh_wide)) == 1


# A real Envoy, a real app on loopback, real HTTP.

APP_PAGE = (
    "# HELP app_requests_total Requests the app served.\n"
    "# TYPE app_requests_total counter\n"
    'app_requests_total{path="/books"} 42\n'
    "# TYPE app_up gauge\n"
    "app_up 1"  # no final newline: the sidecar adds one
)


class _MetricsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung request is not waited for
    body: bytes
    status: int
    content_type: str
    delay: float
    accepts: list[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A hung answer finishes after the sidecar gave up and closed the connection, maybe
        during a later test: its BrokenPipeError is expected, so print no traceback there."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Metrics(http.server.BaseHTTPRequestHandler):
    server: _MetricsServer

    def do_GET(self) -> None:
        self.server.accepts.append(self.headers.get("accept", ""))
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def metrics_app(
    body: str = APP_PAGE,
    *,
    status: int = 200,
    content_type: str = "text/plain; version=0.0.4",
    delay: float = 0.0,
) -> Iterator[_MetricsServer]:
    server = _MetricsServer(("127.0.0.1", 0), _Metrics)
    server.body, server.status, server.content_type = body.encode(), status, content_type
    server.delay, server.accepts = delay, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def merging_sidecar(tmp_path: Path, app_port: int) -> Iterator[MeshSettings]:
    settings = live_settings()
    merged = dataclasses.replace(plan(()), app_metrics=AppMetrics(app_port, "/metrics"))
    with static_envoy(tmp_path, merged, settings):
        yield settings


def scrape(settings: MeshSettings) -> tuple[int, str]:
    return http_get(settings.proxy.ports.prometheus, names.PROMETHEUS_PATH)


@pytest.mark.envoy
def test_the_sidecar_serves_its_stats_then_the_apps_metrics_as_one_valid_page(
    tmp_path: Path,
) -> None:
    with metrics_app() as app, merging_sidecar(tmp_path, app.server_address[1]) as settings:
        status, body = scrape(settings)
        assert status == 200
        page = parsed(body)
        assert "envoy_server_live" in page.names
        assert {"app_requests_total", "app_up"} <= page.names
        assert body.index("envoy_server_live") < body.index("app_requests_total")
        assert page.comments == ()
        assert app.accepts[0].startswith("text/plain;version=0.0.4")
        ports = settings.proxy.ports
        assert http_get(ports.prometheus, names.PROXY_READY_PATH) == (200, "LIVE\n")
        assert http_get(ports.prometheus, "/metrics")[0] == 404


@pytest.mark.envoy
def test_with_the_app_down_the_page_has_envoys_stats_and_says_why(tmp_path: Path) -> None:
    with metrics_app() as app:
        port = app.server_address[1]
    with merging_sidecar(tmp_path, port) as settings:
        status, body = scrape(settings)
    assert status == 200
    page = parsed(body)
    assert "envoy_server_live" in page.names and "app_up" not in page.names
    (comment,) = page.comments
    assert comment.startswith(
        f"# mesh-components: the app's metrics (http://127.0.0.1:{port}/metrics) were "
        "unavailable: HTTP status 503: upstream connect error"
    )


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"status": 500, "body": "boom\nstack"}, "HTTP status 500: boom"),
        ({"content_type": "text/html", "body": "<html>"}, "they came as text/html, not as"),
    ],
)
def test_an_app_answering_an_error_or_html_is_reported_not_merged(
    tmp_path: Path, answer: dict[str, Any], said: str
) -> None:
    with metrics_app(**answer) as app, merging_sidecar(tmp_path, app.server_address[1]) as live:
        status, body = scrape(live)
    assert status == 200
    (comment,) = parsed(body).comments
    assert said in comment


@pytest.mark.envoy
def test_a_hung_app_costs_one_fetch_timeout_and_the_page_still_comes(tmp_path: Path) -> None:
    hung = metrics_app(delay=FETCH_TIMEOUT_MS / 1000 + 2)
    with hung as app, merging_sidecar(tmp_path, app.server_address[1]) as settings:
        started = time.monotonic()
        status, body = http_get_slow(settings)
        took = time.monotonic() - started
    assert status == 200 and "envoy_server_live" in parsed(body).names
    assert "HTTP status 504: upstream request timeout" in parsed(body).comments[0]
    assert FETCH_TIMEOUT_MS / 1000 <= took < FETCH_TIMEOUT_MS / 1000 + 2


def http_get_slow(settings: MeshSettings) -> tuple[int, str]:
    """`scrape` with a client timeout above the fetch timeout (http_get gives up at 5 s)."""
    url = f"http://127.0.0.1:{settings.proxy.ports.prometheus}{names.PROMETHEUS_PATH}"
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_MS / 1000 + 5) as response:
        return int(response.status), response.read().decode()


@pytest.mark.envoy
def test_a_one_megabyte_app_page_is_merged_whole(tmp_path: Path) -> None:
    lines = [f'app_requests_total{{path="/p{i}"}} {i}' for i in range(40_000)]
    big = "# TYPE app_requests_total counter\n" + "\n".join(lines) + "\n"
    assert len(big) > 1_000_000
    with metrics_app(big) as app, merging_sidecar(tmp_path, app.server_address[1]) as settings:
        status, body = scrape(settings)
    assert status == 200
    assert body.endswith(big)
    assert parsed(body).comments == ()
