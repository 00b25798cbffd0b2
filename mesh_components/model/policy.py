"""Access policies: which identities may call a destination, on which HTTP routes or TCP ports.

A destination is a service, or an identity (every service port on that identity's pods).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mesh_components.model.refs import Identity, ServiceRef


class PathMatchKind(enum.StrEnum):
    """How a rule matches the request path (the query string is never part of it)."""

    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class PathMatch:
    """A path match. A regex must match the whole path (RE2 semantics)."""

    kind: PathMatchKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A request header whose value must match `regex` in full."""

    name: str
    regex: str


@dataclass(frozen=True, slots=True)
class HttpRule:
    """One allowed HTTP request shape. Empty fields match anything."""

    path: PathMatch | None = None
    methods: tuple[str, ...] = ()
    headers: tuple[HeaderMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyDestination:
    """Exactly one of `service` or `identity`."""

    service: ServiceRef | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Sources may call the destination.

    With `http_rules`, only matching requests on HTTP ports are allowed. With `tcp_ports`, TCP
    ports are allowed (all of them when the tuple is empty and `tcp` is true). A policy with
    neither allows every port and every request.
    """

    name: str
    namespace: str
    destination: PolicyDestination
    sources: tuple[Identity, ...]
    http_rules: tuple[HttpRule, ...] = ()
    tcp: bool = False
    tcp_ports: tuple[int, ...] = ()

    def applies_to_http(self) -> bool:
        """Whether this policy opens HTTP ports (a TCP-only policy does not)."""
        return bool(self.http_rules) or not self.tcp

    def applies_to_tcp(self, port: int) -> bool:
        """Whether this policy opens TCP `port` (an HTTP-only policy opens none)."""
        if self.tcp:
            return not self.tcp_ports or port in self.tcp_ports
        return not self.http_rules
