"""Port names are read as Istio and Linkerd read them (`grpc`, `tcp`, `http2-api`), a superset of
OSM's prefixes; the import notes each port OSM would have read another way, and the migration
guide lists the difference (issue 19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_components.model import AccessMode, Protocol
from mesh_components.smi import import_documents
from tests.test_smi_import import docs

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "migrating-from-osm.md"


def osm_protocol(name: str) -> str:
    """OSM's `GetAppProtocolFromPortName`, written out: three prefixes, else http."""
    name = name.lower()
    for prefix in ("http-", "tcp-", "grpc-"):
        if name.startswith(prefix):
            return prefix[:-1]
    return "http"


def service_port(name: str, app_protocol: str | None = None) -> tuple[Protocol, list[str]]:
    port = {"name": name, "port": 8080, **({"appProtocol": app_protocol} if app_protocol else {})}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"selector": {"app": "api"}, "ports": [port]},
    }
    imported = import_documents(docs(service, API), ["shop"], access=AccessMode.OPEN)
    ((found,),) = [s.ports for s in imported.spec.services]
    notes = [n.message for n in imported.notes if n.path.startswith("Service[shop/api]")]
    return found.protocol, notes


API = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "api"}},
        "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {
                "serviceAccountName": "api",
                "containers": [{"name": "api", "image": "api", "ports": [{"containerPort": 8080}]}],
            },
        },
    },
}


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("grpc", "grpc"),
        ("tcp", "tcp"),
        ("http2", "http2"),
        ("http2-api", "http2"),
        ("h2c-api", "http2"),
        ("grpc-api", "grpc"),
        ("tcp-db", "tcp"),
        ("http-web", "http"),
        ("web", "http"),
        ("prom", "http"),
    ],
)
def test_a_port_name_the_two_meshes_read_differently_gets_a_note(name: str, ours: str) -> None:
    protocol, notes = service_port(name)
    assert protocol.value == ours
    if ours == osm_protocol(name):
        assert notes == []
    else:
        (note,) = notes
        assert note.startswith(f"port name {name!r} makes it {ours} here;")
        assert note.endswith(f"made it {osm_protocol(name)} (set appProtocol to choose)")


def test_app_protocol_decides_before_the_name_with_no_note() -> None:
    assert service_port("grpc", "http") == (Protocol.HTTP, [])
    assert service_port("web", "kubernetes.io/h2c") == (Protocol.HTTP2, [])


def test_the_migration_guide_lists_the_difference() -> None:
    section = GUIDE.read_text().split("## Where the behaviour differs from OSM's")[1]
    section = section.split("\n## ")[0]
    for words in ("exactly `grpc`", "exactly `tcp`", "`http2-*`", "`h2c-*`", "`appProtocol`"):
        assert words in section
