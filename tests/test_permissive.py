"""Permissive mTLS: besides the mesh's mTLS chains, plaintext and TLS from clients outside the
mesh reach the app, but only TLS that is not the mesh's (no service SNI), and TLS only on ports
without access rules. Each variant passes `envoy --mode validate` through the golden cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mesh_components import names
from mesh_components.emit.envoy import types as t
from mesh_components.model import AccessMode
from mesh_components.pipeline.build import build
from mesh_components.pipeline.specfile import read_spec

PERMISSIVE = Path(__file__).parent / "goldens" / "permissive" / "mesh.yaml"


def inbound_chains(access: AccessMode) -> dict[str, dict[str, Any]]:
    spec = read_spec(PERMISSIVE)
    spec = replace(spec, settings=replace(spec.settings, access=access))
    (legacy,) = [w for w in build(spec).workloads if w.plan.workload.name == "legacy"]
    (inbound,) = [x for x in legacy.envoy.listeners if x["name"] == names.INBOUND_LISTENER]
    return {chain["name"]: chain for chain in inbound["filter_chains"]}


def test_tls_from_outside_the_mesh_passes_through_to_the_app_in_open_access() -> None:
    chains = inbound_chains(AccessMode.OPEN)
    passthrough = chains["inbound|old/legacy|8080|tls-passthrough"]
    assert passthrough["filter_chain_match"] == {
        "destination_port": 8080,
        "transport_protocol": "tls",
    }
    assert "transport_socket" not in passthrough  # not decrypted
    (proxy,) = passthrough["filters"]
    assert proxy["name"] == t.TCP_PROXY.name
    assert proxy["typed_config"]["cluster"] == names.local_cluster(8080)
    mesh = chains["inbound|old/legacy|8080"]["filter_chain_match"]
    assert mesh["server_names"] == ["legacy.old.svc.cluster.local"]  # more specific: wins
    assert "inbound|old/legacy|5432|tls-passthrough" in chains


def test_no_tls_passthrough_where_access_rules_apply() -> None:
    chains = inbound_chains(AccessMode.POLICY)
    assert not [name for name in chains if name.endswith("tls-passthrough")]
