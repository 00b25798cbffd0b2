"""Where an upstream cluster's connections land: the workloads whose inbound listener accepts
its SNI on its port. Shared by `explain` and `graph`, which both follow calls server-side.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.envoy.types import Json
from mesh_components.inspect.matching import Connection
from mesh_components.inspect.model import InspectedMesh, Proxy


def listener(proxy: Proxy, name: str) -> Json | None:
    return next((found for found in proxy.listeners if found["name"] == name), None)


def inbound_chains(proxy: Proxy) -> list[Json]:
    inbound = listener(proxy, names.INBOUND_LISTENER)
    chains: list[Json] = (inbound or {}).get("filter_chains", [])
    return chains


def sni(chain: Json) -> str:
    return next(iter(chain.get("filter_chain_match", {}).get("server_names", [])), "")


def port_of(chain: Json) -> int:
    return int(chain.get("filter_chain_match", {}).get("destination_port", 0))


def connection(chain: Json) -> Connection:
    return Connection(port_of(chain), "tls", sni(chain))


def servers(mesh: InspectedMesh, wanted: Connection) -> list[Proxy]:
    """Workloads whose inbound listener has a chain for this SNI and port: the service's pods."""
    return [
        proxy
        for proxy in mesh.proxies
        if any(connection(chain) == wanted for chain in inbound_chains(proxy))
    ]
