"""The cluster network: a node namespace with a bridge, and one namespace per pod on it.

    host netns (untouched)
    mlc-<c>-node:  br0 10.244.0.1/16, lo: 10.96.0.10 (cluster DNS), ip_forward, kube-proxy NAT
        └── vethN ══ eth0 in mlc-<c>-podN: 10.244.x.y/16, default route via 10.244.0.1

Every link is created inside the node namespace and its peer moved straight into the pod's, so
the host never sees them. Pod IPs are handed out once and never reused in a cluster's life.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

from mesh_components.local import system
from mesh_components.local.layout import Layout

POD_CIDR = ipaddress.IPv4Network("10.244.0.0/16")
NODE_IP = ipaddress.IPv4Address("10.244.0.1")
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/16")
DNS_IP = ipaddress.IPv4Address("10.96.0.10")
BRIDGE = "br0"
BRIDGE_MAC = "02:6d:6c:63:00:01"  # locally administered


@dataclass(frozen=True, slots=True)
class PodLink:
    """A pod's place on the network."""

    netns: str
    veth: str
    ip: str


class NodeNetwork:
    """Creates and removes the node namespace, its bridge and the pods' links."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        self._next_pod = 0
        self._next_ip = int(NODE_IP) + 1

    @property
    def netns(self) -> str:
        return self.layout.node_netns

    def create(self) -> None:
        system.run(["ip", "netns", "add", self.netns])
        system.ip_batch(
            self.netns,
            [
                "link set lo up",
                f"addr add {DNS_IP}/32 dev lo",
                # A fixed MAC: by default a bridge takes its lowest port's MAC, so adding a pod
                # could change the node's MAC under every other pod's ARP cache (lost DNS).
                f"link add {BRIDGE} address {BRIDGE_MAC} type bridge",
                f"addr add {NODE_IP}/{POD_CIDR.prefixlen} dev {BRIDGE}",
                f"link set {BRIDGE} up",
            ],
        )
        # Forward between pods (ClusterIP DNAT), and never tell a pod to bypass the node.
        sysctls = [
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0",
            f"net.ipv4.conf.{BRIDGE}.send_redirects=0",
        ]
        system.run(["ip", "netns", "exec", self.netns, "sysctl", "-q", "-w", *sysctls])
        # With br_netfilter loaded on the host, bridged frames would meet iptables (and DNAT)
        # on the bridge path instead of being routed by the node: keep one path, the routed one.
        system.run_quietly(["ip", "netns", "exec", self.netns, "sysctl", "-q", "-w",
                            "net.bridge.bridge-nf-call-iptables=0"])  # fmt: skip

    def add_pod(self) -> PodLink:
        """A new pod namespace wired to the bridge, with loopback and a default route."""
        with self._lock:
            number, self._next_pod = self._next_pod, self._next_pod + 1
            address, self._next_ip = ipaddress.IPv4Address(self._next_ip), self._next_ip + 1
        if address not in POD_CIDR:
            raise system.LocalRunnerError(f"pod addresses exhausted in {POD_CIDR}")
        link = PodLink(self.layout.pod_netns(number), f"veth{number}", str(address))
        system.run(["ip", "netns", "add", link.netns])
        try:
            self._wire(link)
        except Exception:
            self.remove_pod(link)
            raise
        return link

    def _wire(self, link: PodLink) -> None:
        system.ip_batch(
            self.netns,
            [
                f"link add {link.veth} type veth peer name eth0 netns {link.netns}",
                f"link set {link.veth} master {BRIDGE} up",
                # The kubelet's hairpin-veth mode: a pod may reach itself through a ClusterIP.
                f"link set dev {link.veth} type bridge_slave hairpin on",
            ],
        )
        system.ip_batch(
            link.netns,
            [
                "link set lo up",
                f"addr add {link.ip}/{POD_CIDR.prefixlen} dev eth0",
                "link set eth0 up",
                # Needed even for a ClusterIP only the sidecar knows: the route lookup
                # happens before the OUTPUT redirect (FACTS.md).
                f"route add default via {NODE_IP}",
            ],
        )
        # As containerd (2.0 on) and CRI-O set it for every pod: an app that is no root may
        # listen on a port below 1024 (Istio's curl sample's Service names port 80).
        unprivileged = "net.ipv4.ip_unprivileged_port_start=0"
        system.run(["ip", "netns", "exec", link.netns, "sysctl", "-q", "-w", unprivileged])

    def remove_pod(self, link: PodLink) -> None:
        system.run_quietly(["ip", "-n", self.netns, "link", "del", link.veth])
        system.run_quietly(["ip", "netns", "delete", link.netns])

    def destroy(self) -> None:
        system.run_quietly(["ip", "netns", "delete", self.netns])
