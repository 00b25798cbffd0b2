"""The init container's rules, applied for real in network namespaces, and traffic that proves them.

A "pod" namespace runs the init container's exact command and listeners standing in for the
sidecar (15001, 15003, 15010, 15902, admin on 127.0.0.1:15000) and the app (8080). A "peer"
namespace, joined by a veth pair, plays the rest of the cluster: another pod (10.250.0.1) and a
remote address behind the pod's default route (10.255.255.1). Nothing leaves the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mesh_components.emit.kubernetes.init_container import init_container
from mesh_components.model.settings import Interception, MeshSettings
from tests import netns

pytestmark = pytest.mark.root

SETTINGS = MeshSettings("demo")
APP_UID = 1000
PROXY_UID = SETTINGS.proxy.uid
POD, PEER, REMOTE = "10.250.0.2", "10.250.0.1", "10.255.255.1"
POD_V6, PEER_V6, REMOTE_V6 = "fd00:250::2", "fd00:250::1", "fd00:255::1"
POD_LISTENERS = {
    "outbound": ("0.0.0.0", 15001),
    "inbound": ("0.0.0.0", 15003),
    "prometheus": ("0.0.0.0", 15010),
    "readiness-probe": ("0.0.0.0", 15902),
    "admin": ("127.0.0.1", 15000),
    "app": ("0.0.0.0", 8080),
    "app-v6": ("::", 8080),
}
PEER_LISTENERS = {
    "remote": (REMOTE, 80),
    "remote-dns": (REMOTE, 53),
    "remote-db": (REMOTE, 5432),
    "peer": (PEER, 80),
    "remote-v6": (REMOTE_V6, 80),
}


@dataclass(frozen=True, slots=True)
class Pods:
    pod: netns.Namespace
    peer: netns.Namespace


@pytest.fixture(scope="module")
def pods() -> Iterator[Pods]:
    """Both namespaces, wired and listening; afterwards, no namespace of ours may remain."""
    reason = netns.missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the namespace tests)")
        pytest.skip(reason)
    token = netns.unique_token()
    with (
        netns.namespace(f"{netns.PREFIX}-{token}-pod") as pod,
        netns.namespace(f"{netns.PREFIX}-{token}-peer") as peer,
    ):
        _wire(pod, peer)
        with netns.serve(pod, POD_LISTENERS), netns.serve(peer, PEER_LISTENERS):
            yield Pods(pod, peer)
    left = [name for name in netns.namespaces() if token in name]
    assert not left, f"namespaces left behind: {left}"


def _wire(pod: netns.Namespace, peer: netns.Namespace) -> None:
    netns.link(pod, peer)
    pod.batch(
        f"addr add {POD}/24 dev eth0",
        f"addr add {POD_V6}/64 dev eth0 nodad",
        f"route add default via {PEER}",
        f"route add ::/0 via {PEER_V6}",
    )
    peer.batch(
        f"addr add {PEER}/24 dev eth0",
        f"addr add {PEER_V6}/64 dev eth0 nodad",
        f"addr add {REMOTE}/32 dev lo",
        f"addr add {REMOTE_V6}/128 dev lo",
    )


NOTHING_EXCLUDED = Interception()


def install(
    pod: netns.Namespace,
    interception: Interception = NOTHING_EXCLUDED,
    probes: tuple[int, ...] = (),
) -> str:
    """Run the init container's exact command and environment in the pod; its output."""
    container = init_container(SETTINGS, interception, probes)
    env = [f"{item['name']}={item['value']}" for item in container["env"]]
    return pod.run("env", *env, *container["command"], *container.get("args", []))


def uninstall(pod: netns.Namespace) -> None:
    pod.run("iptables-restore", stdin="*nat\nCOMMIT\n")
    pod.run("ip6tables-restore", stdin="*filter\nCOMMIT\n")


def test_a_namespace_is_deleted_even_when_the_test_fails(pods: Pods) -> None:
    name = f"{netns.PREFIX}-{netns.unique_token()}-doomed"
    with pytest.raises(RuntimeError), netns.namespace(name):
        assert name in netns.namespaces()
        raise RuntimeError("boom")
    assert name not in netns.namespaces()


def test_without_rules_every_connection_reaches_its_real_destination(pods: Pods) -> None:
    uninstall(pods.pod)
    targets = [f"{REMOTE}:80", f"[{REMOTE_V6}]:80"]
    assert netns.dial(pods.pod, APP_UID, targets) == {
        f"{REMOTE}:80": f"remote {REMOTE}:80",
        f"[{REMOTE_V6}]:80": f"remote-v6 [{REMOTE_V6}]:80",
    }
    assert netns.dial(pods.peer, None, [f"{POD}:8080"]) == {f"{POD}:8080": f"app {POD}:8080"}


def test_the_init_command_installs_the_mesh_chains_and_a_rerun_adds_no_duplicates(
    pods: Pods,
) -> None:
    install(pods.pod)
    output = install(pods.pod)
    assert "mesh-init: done" in output
    nat = pods.pod.run("iptables-save", "-t", "nat")
    for chain in (
        "MESH_INBOUND",
        "MESH_REDIRECT_INBOUND",
        "MESH_OUTBOUND",
        "MESH_REDIRECT_OUTBOUND",
    ):
        assert f":{chain} - " in nat
    assert nat.count("-A OUTPUT ") == 1
    assert nat.count("-A PREROUTING ") == 1
    assert f"--uid-owner {PROXY_UID} -j RETURN" in nat
    v6 = pods.pod.run("ip6tables-save", "-t", "filter")
    assert ":MESH_IPV6_INPUT - " in v6 and ":MESH_IPV6_OUTPUT - " in v6
    assert v6.count("-A INPUT ") == 1


def test_the_apps_connection_lands_on_the_outbound_listener_with_its_destination(
    pods: Pods,
) -> None:
    install(pods.pod)
    answers = netns.dial(pods.pod, APP_UID, [f"{REMOTE}:80", f"{PEER}:80"])
    assert answers == {
        f"{REMOTE}:80": f"outbound {REMOTE}:80",
        f"{PEER}:80": f"outbound {PEER}:80",
    }


def test_the_proxy_uids_connection_reaches_the_real_destination(pods: Pods) -> None:
    install(pods.pod)
    answers = netns.dial(pods.pod, PROXY_UID, [f"{REMOTE}:80", f"{PEER}:80"])
    assert answers == {f"{REMOTE}:80": f"remote {REMOTE}:80", f"{PEER}:80": f"peer {PEER}:80"}


def test_a_call_to_the_pods_own_ip_goes_through_both_halves_of_the_sidecar(pods: Pods) -> None:
    install(pods.pod)
    own = f"{POD}:8080"
    assert netns.dial(pods.pod, APP_UID, [own]) == {own: f"outbound {own}"}
    assert netns.dial(pods.pod, PROXY_UID, [own]) == {own: f"inbound {own}"}


def test_loopback_is_never_redirected(pods: Pods) -> None:
    install(pods.pod)
    answers = netns.dial(pods.pod, APP_UID, ["127.0.0.1:15000", "127.0.0.1:8080"])
    assert answers == {
        "127.0.0.1:15000": "admin 127.0.0.1:15000",
        "127.0.0.1:8080": "app 127.0.0.1:8080",
    }
    assert netns.dial(pods.pod, PROXY_UID, ["127.0.0.1:8080"]) == {
        "127.0.0.1:8080": "app 127.0.0.1:8080"
    }


def test_dns_over_tcp_is_not_redirected(pods: Pods) -> None:
    install(pods.pod)
    dns = f"{REMOTE}:53"
    assert netns.dial(pods.pod, APP_UID, [dns]) == {dns: f"remote-dns {dns}"}


def test_a_connection_from_another_pod_lands_on_the_inbound_listener(pods: Pods) -> None:
    install(pods.pod)
    targets = [f"{POD}:{port}" for port in (8080, 15000, 15010, 15902)]
    assert netns.dial(pods.peer, None, targets) == {
        f"{POD}:8080": f"inbound {POD}:8080",
        f"{POD}:15000": f"inbound {POD}:15000",  # admin is never exempt
        f"{POD}:15010": f"prometheus {POD}:15010",
        f"{POD}:15902": f"inbound {POD}:15902",  # no probes, no exemption
    }


def test_with_probes_the_probe_port_is_not_redirected(pods: Pods) -> None:
    install(pods.pod, probes=(15901, 15902, 15904))
    probe = f"{POD}:15902"
    assert netns.dial(pods.peer, None, [probe]) == {probe: f"readiness-probe {probe}"}


def test_excluded_ports_and_ranges_bypass_the_sidecar(pods: Pods) -> None:
    interception = Interception(
        outbound_port_exclusions=(5432,),
        inbound_port_exclusions=(8080,),
        outbound_ip_range_exclusions=(f"{PEER}/32",),
    )
    install(pods.pod, interception)
    answers = netns.dial(pods.pod, APP_UID, [f"{REMOTE}:5432", f"{PEER}:80", f"{REMOTE}:80"])
    assert answers == {
        f"{REMOTE}:5432": f"remote-db {REMOTE}:5432",
        f"{PEER}:80": f"peer {PEER}:80",
        f"{REMOTE}:80": f"outbound {REMOTE}:80",
    }
    assert netns.dial(pods.peer, None, [f"{POD}:8080"]) == {f"{POD}:8080": f"app {POD}:8080"}


def test_with_inclusions_only_the_included_ranges_are_redirected(pods: Pods) -> None:
    install(pods.pod, Interception(outbound_ip_range_inclusions=("10.255.255.0/24",)))
    answers = netns.dial(pods.pod, APP_UID, [f"{REMOTE}:80", f"{PEER}:80"])
    assert answers == {f"{REMOTE}:80": f"outbound {REMOTE}:80", f"{PEER}:80": f"peer {PEER}:80"}


def test_ipv6_is_closed_except_on_loopback(pods: Pods) -> None:
    install(pods.pod)
    remote, local = f"[{REMOTE_V6}]:80", "[::1]:8080"
    refused = "error: ConnectionRefusedError"
    assert netns.dial(pods.pod, APP_UID, [remote, local]) == {
        remote: refused,  # refused at once, so the app can fall back to IPv4
        local: "app-v6 [::1]:8080",
    }
    assert netns.dial(pods.pod, PROXY_UID, [remote]) == {remote: refused}
    inbound = f"[{POD_V6}]:8080"
    answers = netns.dial(pods.peer, None, [inbound], timeout=0.5)
    assert answers == {inbound: "error: TimeoutError"}  # dropped, unanswered
