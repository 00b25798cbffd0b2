"""Istio's and Linkerd's public demos render unedited (issue 19): every workload they run gets a
sidecar under the ServiceAccount it names (`default` for those that name none, with a warning),
and every pod is annotated for Prometheus. `test_local_public_demos.py` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json
from tests.public_demos import ALL, BOOKINFO, EMOJIVOTO, SAMPLES, Demo, render

ACCOUNTS = {
    BOOKINFO: {
        "details-v1": "bookinfo-details", "ratings-v1": "bookinfo-ratings",
        "reviews-v1": "bookinfo-reviews", "reviews-v2": "bookinfo-reviews",
        "reviews-v3": "bookinfo-reviews", "productpage-v1": "bookinfo-productpage",
    },
    SAMPLES: {
        "helloworld-v1": "default", "helloworld-v2": "default", "curl": "curl",
        "httpbin": "httpbin",
    },
    EMOJIVOTO: {"emoji": "emoji", "vote-bot": "default", "voting": "voting", "web": "web"},
    ALL[3]: {"webapp": "webapp", "authors": "authors", "books": "books", "traffic": "traffic"},
}  # fmt: skip


def deployments(objects: list[Json]) -> dict[str, Json]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


@pytest.mark.parametrize("demo", ALL, ids=lambda d: d.namespace)
def test_each_demo_renders_unedited_with_every_workload_meshed(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = render(demo, tmp_path, tmp_path / "ca.secret.yaml")
    err = capsys.readouterr().err
    assert "not carried over" not in err  # render keeps the demos' labelled Services whole
    assert {o["metadata"].get("namespace") for o in objects} - {None} == {demo.namespace}
    found = deployments(objects)
    assert set(found) == set(ACCOUNTS[demo])
    for name, deployment in found.items():
        pod = deployment["spec"]["template"]["spec"]
        sidecars = [c["name"] for c in [*pod["initContainers"], *pod["containers"]]]
        assert names.PROXY_CONTAINER in sidecars, name
        assert pod.get("serviceAccountName", "default") == ACCOUNTS[demo][name]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "15010", name
        assert annotations["prometheus.io/path"] == names.PROMETHEUS_PATH, name
    shared = sorted(n for n, account in ACCOUNTS[demo].items() if account == "default")
    warned = [line for line in err.splitlines() if "[workload-default-identity]" in line]
    assert [line.split("[")[1].split("]")[0] for line in warned] == [
        f"{demo.namespace}/{name}" for name in shared
    ]


def test_emojivotos_grpc_ports_are_grpc_and_say_how_osm_differed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render(EMOJIVOTO, tmp_path, tmp_path / "ca.secret.yaml")
    err = capsys.readouterr().err
    for service in ("emoji-svc", "voting-svc"):
        assert (
            f"note: Service[emojivoto/{service}].spec.ports[0]: port name 'grpc' makes it grpc "
            "here; OSM read only the prefixes http-, grpc- and tcp- and made it http"
        ) in err
