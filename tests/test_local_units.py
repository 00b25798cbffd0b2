"""The local runner's pure parts, without root: DNS answers, kube-proxy rules, ClusterIPs,
the kubelet's volume layout, how containers are mapped, and the refusals users see."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mesh_components import cli
from mesh_components.errors import MeshValidationError
from mesh_components.local import dns, kube_proxy, launcher, stub_app, volumes
from mesh_components.local.containers import Runs, python_for_grpc, runs_as
from mesh_components.local.layout import Layout, check_name
from mesh_components.local.manifests import index
from mesh_components.local.services import (
    Backend,
    PodEndpoint,
    ServiceAllocator,
    ServiceView,
    backends,
    observed_view,
    resolve,
    slice_backends,
)


def query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def lookup(name: str) -> list[str] | None:
    return {"web.shop.svc.cluster.local": ["10.96.0.7", "10.244.0.9"]}.get(name)


def test_dns_answers_a_records_for_known_names_and_nxdomain_for_the_rest() -> None:
    answer = dns.answer(query("Web.Shop.svc.cluster.local"), lookup)
    assert answer is not None
    ident, flags, _, count = struct.unpack("!HHHH", answer[:8])
    assert (ident, flags & 0x8000, flags & 0xF, count) == (0x1234, 0x8000, 0, 2)
    assert answer.endswith(socket.inet_aton("10.244.0.9"))
    missing = dns.answer(query("web.shop.shop.svc.cluster.local"), lookup)
    assert missing is not None and struct.unpack("!H", missing[2:4])[0] & 0xF == 3
    aaaa = dns.answer(query("web.shop.svc.cluster.local", qtype=28), lookup)
    assert aaaa is not None and struct.unpack("!HH", aaaa[2:4] + aaaa[6:8]) == (0x8580, 0)


def test_resolv_conf_carries_the_kubernetes_search_path_and_ndots() -> None:
    text = dns.resolv_conf("shop", "cluster.local", "10.96.0.10")
    assert text.splitlines() == [
        "search shop.svc.cluster.local svc.cluster.local cluster.local",
        "nameserver 10.96.0.10",
        "options ndots:5",
    ]


def service(name: str, cluster_ip: str | None = None, selector: str = "web") -> dict[str, object]:
    spec: dict[str, object] = {
        "selector": {"app": selector},
        "ports": [{"port": 80, "targetPort": "http"}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"kind": "Service", "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def pod(ip: str, ready: bool) -> PodEndpoint:
    return PodEndpoint("shop", ip, ip, {"app": "web"}, ready, {"http": 8080}, ip, "")


def test_names_resolve_to_cluster_ips_ready_pods_and_stateful_pods() -> None:
    views = ServiceAllocator().views([service("web"), service("db", "None")])
    db0 = PodEndpoint("shop", "db-0", "10.244.0.5", {"app": "web"}, True, {}, "db-0", "db")
    pods = [pod("10.244.0.2", True), pod("10.244.0.3", False), db0]
    domain = "cluster.local"

    def of(service: ServiceView) -> list[Backend]:
        return backends(service, pods)

    assert resolve("web.shop.svc.cluster.local", domain, views, of) == ["10.96.0.1"]
    assert resolve("db.shop.svc.cluster.local", domain, views, of) == ["10.244.0.2", "10.244.0.5"]
    assert resolve("db-0.db.shop.svc.cluster.local", domain, views, of) == ["10.244.0.5"]
    assert resolve("web.other.svc.cluster.local", domain, views, of) is None
    assert resolve("example.com", domain, views, of) is None


def test_endpoint_slices_give_ready_addresses_ports_and_hostnames_of_their_service() -> None:
    """What the node of a real control plane reads: the controller manager's EndpointSlices."""
    stored = {**service("db", "None"), "spec": {**service("db", "None")["spec"]}}
    view = observed_view(stored)
    assert view.cluster_ip is None and view.ports[0].target == "http"
    assert observed_view(service("web", "10.96.3.3")).cluster_ip == "10.96.3.3"

    def piece(service_name: str, *endpoints: dict[str, Any]) -> dict[str, Any]:
        labels = {"kubernetes.io/service-name": service_name}
        return {
            "metadata": {"name": f"{service_name}-x", "namespace": "shop", "labels": labels},
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": list(endpoints),
        }

    slices = [
        piece(
            "db", {"addresses": ["10.244.0.9"], "conditions": {"ready": True}, "hostname": "db-0"}
        ),
        piece("db", {"addresses": ["10.244.0.3"], "conditions": {"ready": False}}),
        piece("db", {"addresses": ["10.244.0.2"], "conditions": {}}),
        piece("web", {"addresses": ["10.244.0.7"], "conditions": {"ready": True}}),
    ]
    found = slice_backends(view, slices)
    assert [(b.ip, b.hostname, b.ports) for b in found] == [
        ("10.244.0.2", "", {"": 8080}),
        ("10.244.0.9", "db-0", {"": 8080}),
    ]
    names = resolve("db-0.db.shop.svc.cluster.local", "cluster.local", [view], lambda s: found)
    assert names == ["10.244.0.9"]


def test_cluster_ips_are_kept_honoured_and_never_shared() -> None:
    allocator = ServiceAllocator()
    first = allocator.views([service("a"), service("b", "10.96.5.5")])
    assert [v.cluster_ip for v in first] == ["10.96.0.1", "10.96.5.5"]
    again = allocator.views([service("c"), service("a"), service("b", "10.96.5.5")])
    assert [v.cluster_ip for v in again] == ["10.96.0.2", "10.96.0.1", "10.96.5.5"]
    headless = allocator.views([service("h", "None")])
    assert headless[0].cluster_ip is None
    with pytest.raises(MeshValidationError) as raised:
        allocator.views([service("x", "10.96.9.9"), service("y", "10.96.9.9")])
    assert raised.value.codes == ("local-ip-taken",)


def test_kube_proxy_sends_a_cluster_ip_to_ready_pods_only_and_rejects_when_none() -> None:
    views = ServiceAllocator().views([service("web"), service("empty", selector="none")])
    pods = [pod("10.244.0.2", True), pod("10.244.0.3", False), pod("10.244.0.4", True)]
    text = kube_proxy.rules(views, lambda service: backends(service, pods))
    dnat = [line.split(" -j DNAT ")[1] for line in text.splitlines() if "DNAT" in line]
    assert dnat == ["--to-destination 10.244.0.2:8080", "--to-destination 10.244.0.4:8080"]
    assert "-m statistic --mode random --probability 0.50000 -j DNAT" in text
    reject = "-A MLC-REJECT -d 10.96.0.2/32 -p tcp --dport 80"
    assert (
        f'{reject} -m comment --comment "shop/empty:80" -j REJECT --reject-with tcp-reset' in text
    )
    assert "-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE" in text


def test_a_volume_update_is_one_data_link_swap_in_the_kubelet_layout(tmp_path: Path) -> None:
    target = tmp_path / "config"
    assert volumes.write_atomically(target, {"a.yaml": (b"one", 0o444), "b.yaml": (b"b", 0o444)})
    first = os.readlink(target / "..data")
    assert first.startswith("..") and os.readlink(target / "a.yaml") == "..data/a.yaml"
    assert (target / "a.yaml").read_bytes() == b"one" and (
        target / "a.yaml"
    ).stat().st_mode & 0o777 == 0o444
    assert not volumes.write_atomically(
        target, {"a.yaml": (b"one", 0o444), "b.yaml": (b"b", 0o444)}
    )
    assert volumes.write_atomically(target, {"a.yaml": (b"two", 0o444)})
    assert os.readlink(target / "..data") != first and not (target / first).exists()
    assert (target / "a.yaml").read_bytes() == b"two" and not (target / "b.yaml").is_symlink()
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..2")) == [
        "..data",
        "a.yaml",
    ]


def test_a_missing_config_map_names_the_volume_and_the_fix() -> None:
    facts = volumes.PodFacts("p", "shop", "u", {}, {}, "default")
    with pytest.raises(MeshValidationError) as raised:
        volumes.payload(
            {"name": "c", "configMap": {"name": "gone"}},
            index([]),
            facts,
            "Pod[shop/p].spec.volumes[0]",
        )
    assert raised.value.codes == ("local-volume-source-missing",)
    assert "ConfigMap shop/gone" in str(raised.value)


def test_containers_map_to_envoy_the_stub_app_or_their_own_command() -> None:
    assert (
        runs_as({"name": "p", "image": "envoyproxy/envoy:v1.40.0", "command": ["envoy"]}, True)
        is Runs.ENVOY
    )
    assert runs_as({"name": "p", "image": "envoyproxy/envoy:v1.40.0"}, False) is Runs.ENVOY
    assert (
        runs_as({"name": "i", "image": "istio/proxyv2", "command": ["/bin/sh"]}, True) is Runs.EXACT
    )
    assert runs_as({"name": "s", "image": "x", "restartPolicy": "Always"}, True) is Runs.STUB
    assert runs_as({"name": "app", "image": "mysql:5.6"}, False) is Runs.STUB


def test_the_launcher_keeps_only_the_added_capabilities_and_sets_no_new_privs() -> None:
    user = {
        "uid": 0,
        "gid": 0,
        "groups": [],
        "caps": ["net_admin", "net_raw"],
        "no_new_privs": True,
    }
    argv = launcher.command({"user": user, "argv": ["/bin/sh", "-c", "true"]})
    assert argv == ["setpriv", "--reuid=0", "--regid=0", "--clear-groups",
                    "--bounding-set=-all,+net_admin,+net_raw", "--inh-caps=-all", "--no-new-privs",
                    "--", "/bin/sh", "-c", "true"]  # fmt: skip


def test_unsupported_kinds_are_problems_with_a_fix() -> None:
    with pytest.raises(MeshValidationError) as raised:
        index([{"kind": "Certificate", "metadata": {"name": "c", "namespace": "shop"}},
               {"kind": "Ingress", "metadata": {"name": "i", "namespace": "shop"}}])  # fmt: skip
    assert raised.value.codes == ("local-kind-unsupported",)
    assert "builtin" in str(raised.value)


def test_without_root_every_verb_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for argv in (["up", str(tmp_path)], ["down"], ["update", str(tmp_path)],
                 ["curl", "--from", "a/b", "http://x/"]):  # fmt: skip
        assert cli.main(["local", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "need root" in err, err


def test_the_stub_app_fails_every_nth_request_or_the_one_that_asks() -> None:
    every_third = stub_app.Faults.from_environment({"STUB_FAIL_EVERY": "3"})
    answers = [every_third.next("") for _ in range(6)]
    assert answers == [(1, 200), (2, 200), (3, 503), (4, 200), (5, 200), (6, 503)]
    always = stub_app.Faults.from_environment({"STUB_FAIL_EVERY": "1", "STUB_FAIL_STATUS": "500"})
    assert [always.next("") for _ in range(2)] == [(1, 500), (2, 500)]
    never = stub_app.Faults.from_environment({})
    assert [never.next(""), never.next("502")] == [(1, 200), (2, 502)]


def test_the_stub_app_serves_its_metrics_and_answers_head_without_a_body() -> None:
    config = {"pod": "p-1", "namespace": "ns", "workload": "w", "container": "c", "labels": {}}
    faults = stub_app.Faults.from_environment({})
    server = stub_app.HttpServer(("127.0.0.1", 0), stub_app.http_handler(config, 9080, faults))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse()
        assert metrics.getheader("content-type", "").startswith("text/plain; version=0.0.4")
        text = metrics.read().decode()
        assert 'stub_app_info{pod="p-1",namespace="ns",port="9080"} 1\n' in text
        connection.request("HEAD", "/authors/1.json")  # the same connection: nothing left over
        head = connection.getresponse()
        assert head.status == 200 and int(head.getheader("content-length", "0")) > 0
        assert head.read() == b""
        connection.request("GET", "/authors/1.json")
        assert json.loads(connection.getresponse().read())["served"] == 2  # scrapes uncounted
        connection.close()
    finally:
        server.shutdown()
        server.server_close()


def test_grpc_pods_run_under_a_python_of_this_version_which_grpcio_is_built_for() -> None:
    python = python_for_grpc()
    asked = [python, "-I", "-c", "import sys; print(tuple(sys.version_info[:2]))"]
    answer = subprocess.run(asked, capture_output=True, text=True, check=True).stdout.strip()
    assert answer == str(tuple(sys.version_info[:2]))


@pytest.mark.parametrize("name", ["abc\n", "a/../b", "", "-a", "A"])
def test_a_cluster_name_must_match_whole(name: str) -> None:
    with pytest.raises(MeshValidationError) as raised:
        check_name(name)
    assert raised.value.problems[0].found == repr(name)  # quoted: a newline is shown, not obeyed


def test_a_cluster_owns_its_own_namespaces_and_not_those_of_a_longer_name() -> None:
    """`a`'s prefix `mlc-a-` starts `a-b`'s names too: `local down --name a` must leave them."""
    layout = Layout("a")
    assert layout.owns_netns("mlc-a-node") and layout.owns_netns("mlc-a-pod12")
    assert not layout.owns_netns("mlc-a-b-node") and not layout.owns_netns("mlc-a-b-pod1")
    assert not layout.owns_netns("mlc-a-pod1x")
