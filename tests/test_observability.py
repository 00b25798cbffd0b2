"""Access logs and tracing, as emitted: JSON lines with the peer identity on every chain, none
when turned off, and spans to an OTLP (gRPC, HTTP/2) or Zipkin (HTTP/1) collector. Each variant
passes `envoy --mode validate`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.emit.envoy import types as t
from mesh_components.model import MeshSpec, Observability, Tracing, TracingProtocol
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.build import CompiledMesh, build
from mesh_components.pipeline.specfile import read_spec

HTTP_SERVICE = Path(__file__).parent / "goldens" / "http-service" / "mesh.yaml"
ZIPKIN = Tracing("zipkin.observability:9411", TracingProtocol.ZIPKIN, 25)
OTLP = Tracing("otel-collector.observability:4317", TracingProtocol.OTLP, 2.5)


def compiled(observability: Observability) -> CompiledMesh:
    spec: MeshSpec = read_spec(HTTP_SERVICE)
    settings = replace(spec.settings, observability=observability)
    return build(replace(spec, settings=settings))


_TRAFFIC = (t.HTTP_CONNECTION_MANAGER.name, t.TCP_PROXY.name)


def network_filters(mesh: CompiledMesh, *listeners: str) -> list[dict[str, Any]]:
    """Every HTTP connection manager and tcp_proxy config of the named listeners (default
    chains too), or of every listener."""
    found = []
    for workload in mesh.workloads:
        for listener in workload.envoy.listeners:
            if listeners and listener["name"] not in listeners:
                continue
            chains = [*listener.get("filter_chains", []), listener.get("default_filter_chain")]
            for chain in chains:
                for network_filter in (chain or {}).get("filters", []):
                    if network_filter["name"] in _TRAFFIC:
                        found.append(network_filter["typed_config"])
    return found


def managers(mesh: CompiledMesh) -> list[dict[str, Any]]:
    """The HTTP connection managers that carry app traffic."""
    traffic = network_filters(mesh, names.OUTBOUND_LISTENER, names.INBOUND_LISTENER)
    return [config for config in traffic if "route_config" in config]


def test_access_logs_are_json_lines_naming_the_peer_on_every_mesh_chain() -> None:
    mesh = compiled(Observability())
    chains = network_filters(mesh, names.OUTBOUND_LISTENER, names.INBOUND_LISTENER)
    assert len(chains) >= 4
    assert any("route_config" not in config for config in chains)  # the deny chain's tcp_proxy
    for config in chains:
        (logger,) = config["access_log"]
        fields = logger["typed_config"]["log_format"]["json_format"]
        assert fields["direction"] in ("inbound", "outbound")
        assert {"response_flags", "upstream_cluster", "duration_ms"} <= set(fields)
        assert fields["downstream_peer"] == "%DOWNSTREAM_PEER_URI_SAN%"


def test_access_logs_turned_off_leave_no_logger_anywhere() -> None:
    mesh = compiled(Observability(access_logs=False))
    assert network_filters(mesh)
    assert all("access_log" not in config for config in network_filters(mesh))


@pytest.mark.parametrize(
    ("tracing", "provider", "http2"),
    [(ZIPKIN, t.ZIPKIN_TRACER.name, False), (OTLP, t.OPENTELEMETRY_TRACER.name, True)],
    ids=["zipkin", "otlp"],
)
def test_tracing_sends_spans_to_the_declared_collector(
    tracing: Tracing, provider: str, http2: bool
) -> None:
    mesh = compiled(Observability(tracing=tracing))
    traced = managers(mesh)
    assert len(traced) >= len(mesh.workloads)
    for manager in traced:
        assert manager["tracing"]["provider"]["name"] == provider
        assert manager["tracing"]["random_sampling"] == {"value": tracing.sampling_percent}
    for workload in mesh.workloads:
        (collector,) = [c for c in workload.envoy.clusters if c["name"] == names.TRACING_CLUSTER]
        address = collector["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        host, port = tracing.address.split(":")
        assert address["address"]["socket_address"] == {"address": host, "port_value": int(port)}
        assert ("typed_extension_protocol_options" in collector) is http2


@pytest.mark.envoy
@pytest.mark.parametrize(
    "observability",
    [Observability(access_logs=False), Observability(tracing=ZIPKIN), Observability(tracing=OTLP)],
    ids=["no-access-logs", "zipkin", "otlp"],
)
def test_every_observability_variant_passes_envoy_validate(
    observability: Observability, envoy_binary: Path
) -> None:
    mesh = compiled(observability)
    configs = [(str(w.plan.workload), w.envoy) for w in mesh.workloads]
    verdicts = envoy_check.validate_configs(envoy_binary, configs)
    assert [v.output for v in verdicts if not v.accepted] == []
    assert len(verdicts) == len(mesh.workloads) == 2
