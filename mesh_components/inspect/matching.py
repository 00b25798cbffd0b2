"""How Envoy picks a filter chain, a virtual host and a route, replayed on the emitted dicts.

Only the fields our emitters use are read; anything else is an `UnsupportedConfigError`, never a
guess, so an explanation cannot silently diverge from Envoy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import re2

from mesh_components.emit.envoy.types import Json
from mesh_components.errors import MeshError
from mesh_components.inspect.envoy_read import default_chain

_CHAIN_FIELDS = frozenset(
    {"destination_port", "prefix_ranges", "server_names", "transport_protocol"}
)


class UnsupportedConfigError(MeshError):
    """The config uses an Envoy feature these tools cannot replay."""


@dataclass(frozen=True, slots=True)
class Connection:
    """What a listener sees of a new connection: the original destination port, and for TLS
    the SNI (read by tls_inspector). `address`: the original destination IP when known (an
    egress range matches on it), else "" (an address no range holds)."""

    port: int
    transport: str = "raw_buffer"
    sni: str = ""
    address: str = ""


def select_chain(listener: Json, connection: Connection) -> Json | None:
    """Envoy's filter chain match: each criterion in Envoy's order keeps only the most specific
    candidates (an exact value beats an unset one); the default chain if none is left."""
    candidates = [chain for chain in listener.get("filter_chains", []) if not _ingress_only(chain)]
    for match in candidates:
        unknown = set(match.get("filter_chain_match", {})) - _CHAIN_FIELDS
        if unknown:
            raise UnsupportedConfigError(
                f"filter chain match on {sorted(unknown)} in {match['name']}"
            )
    for narrow in (_by_port, _by_address, _by_server_name, _by_transport):
        candidates = narrow(candidates, connection)
    return candidates[0] if candidates else default_chain(listener)


def _ingress_only(chain: Json) -> bool:
    """A chain keyed on source ranges takes plaintext ingress from outside the mesh; the client
    explained here is a mesh workload, whose sidecar always speaks TLS, so it never lands there."""
    return "source_prefix_ranges" in _match(chain)


def _most_specific(candidates: list[Json], rank: Callable[[Json], int | None]) -> list[Json]:
    """Keep the candidates of the best (lowest) rank; rank None means the chain cannot match."""
    ranked = [(r, chain) for chain in candidates if (r := rank(chain)) is not None]
    best = min((r for r, _ in ranked), default=None)
    return [chain for r, chain in ranked if r == best]


def _match(chain: Json) -> Json:
    found: Json = chain.get("filter_chain_match", {})
    return found


def _by_port(candidates: list[Json], connection: Connection) -> list[Json]:
    def rank(chain: Json) -> int | None:
        port = _match(chain).get("destination_port")
        return 1 if port is None else (0 if port == connection.port else None)

    return _most_specific(candidates, rank)


def _by_address(candidates: list[Json], connection: Connection) -> list[Json]:
    """The longest prefix that holds the address wins over no prefix at all."""

    def rank(chain: Json) -> int | None:
        ranges = _match(chain).get("prefix_ranges")
        if not ranges:
            return 33
        lengths = [r["prefix_len"] for r in ranges if _holds(r, connection.address)]
        return 32 - max(lengths) if lengths else None

    return _most_specific(candidates, rank)


def _holds(prefix: Json, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    network = f"{prefix['address_prefix']}/{prefix['prefix_len']}"
    return ip in ipaddress.ip_network(network, strict=False)


def _by_server_name(candidates: list[Json], connection: Connection) -> list[Json]:
    def rank(chain: Json) -> int | None:
        names = _match(chain).get("server_names")
        if not names:
            return 2
        if connection.sni in names:
            return 0
        wildcard = any(n.startswith("*.") and connection.sni.endswith(n[1:]) for n in names)
        return 1 if wildcard else None

    return _most_specific(candidates, rank)


def _by_transport(candidates: list[Json], connection: Connection) -> list[Json]:
    def rank(chain: Json) -> int | None:
        transport = _match(chain).get("transport_protocol")
        return 1 if transport is None else (0 if transport == connection.transport else None)

    return _most_specific(candidates, rank)


def select_virtual_host(route_config: Json, host: str) -> tuple[Json, str] | None:
    """Envoy's virtual host choice for a Host header: an exact domain, then the longest
    `*.suffix`, then the longest `prefix.*`, then `*`. Returns the host and the domain that
    matched."""
    host = host.lower()
    hosts: Sequence[Json] = route_config.get("virtual_hosts", [])
    pairs = [(vh, d.lower()) for vh in hosts for d in vh["domains"]]
    exact = [(vh, d) for vh, d in pairs if d == host]
    suffix = [(vh, d) for vh, d in pairs if d.startswith("*") and d != "*" and host.endswith(d[1:])]
    prefix = [
        (vh, d) for vh, d in pairs if d.endswith("*") and d != "*" and host.startswith(d[:-1])
    ]
    anything = [(vh, d) for vh, d in pairs if d == "*"]
    for group in (
        exact,
        sorted(suffix, key=lambda p: -len(p[1])),
        sorted(prefix, key=lambda p: -len(p[1])),
        anything,
    ):
        if group:
            return group[0]
    return None


def select_route(virtual_host: Json, path: str, headers: dict[str, str]) -> Json | None:
    """The first route whose match fits the request, as Envoy walks them."""
    routes: list[Json] = virtual_host["routes"]
    return next((r for r in routes if route_matches(r["match"], path, headers)), None)


def route_matches(match: Json, path: str, headers: dict[str, str]) -> bool:
    unknown = set(match) - {"prefix", "path", "safe_regex", "headers"}
    if unknown:
        raise UnsupportedConfigError(f"route match on {sorted(unknown)}")
    bare = path.split("?", 1)[0]
    if "prefix" in match and not path.startswith(match["prefix"]):
        return False
    if "path" in match and bare != match["path"]:
        return False
    if "safe_regex" in match and not full_match(match["safe_regex"]["regex"], bare):
        return False
    return all(header_matches(h, headers) for h in match.get("headers", []))


def header_matches(matcher: Json, headers: dict[str, str]) -> bool:
    """A HeaderMatcher: an absent header never matches a value matcher."""
    value = headers.get(matcher["name"].lower())
    if "present_match" in matcher:
        return (value is not None) is bool(matcher["present_match"])
    if value is None:
        return False
    return string_matches(matcher["string_match"], value)


def string_matches(matcher: Json, value: str) -> bool:
    """A StringMatcher. Regexes are RE2, like Envoy's, and must match the whole value."""
    if "exact" in matcher:
        return value == str(matcher["exact"])
    if "prefix" in matcher:
        return value.startswith(str(matcher["prefix"]))
    if "suffix" in matcher:
        return value.endswith(str(matcher["suffix"]))
    if "safe_regex" in matcher:
        return full_match(matcher["safe_regex"]["regex"], value)
    raise UnsupportedConfigError(f"string matcher {sorted(matcher)}")


def full_match(pattern: str, value: str) -> bool:
    return re2.fullmatch(pattern, value) is not None


def normalized_path(path: str, manager: Json) -> str:
    """The path an HTTP connection manager hands its filters, as configured: `%2F` and `%5C`
    unescaped, dot segments removed (backslashes become slashes), slashes merged. The query
    is kept as sent."""
    bare, question, query = path.partition("?")
    if manager.get("path_with_escaped_slashes_action") == "UNESCAPE_AND_FORWARD":
        bare = re.sub("%2[fF]", "/", re.sub("%5[cC]", "\\\\", bare))
    if manager.get("normalize_path"):
        bare = _remove_dot_segments(bare.replace("\\", "/"))
    if manager.get("merge_slashes"):
        bare = re.sub("/{2,}", "/", bare)
    return bare + question + query


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, which Envoy's normalize_path follows."""
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    trailing = "/" if path.endswith(("/.", "/..")) else ""
    return "/" + "/".join(out) + trailing
