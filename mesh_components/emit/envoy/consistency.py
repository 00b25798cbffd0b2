"""Cross-reference checks on one workload's emitted config, like go-control-plane's
`Snapshot.Consistent`: every name referenced exists, no name or filter-chain match repeats,
no listener is empty. A failure is a compiler bug, never a user's mistake.

Each document is walked once (`_Index`); the rules then read what the walk gathered, so the
check costs one pass over the config, however many rules there are. An upstream cluster that
several configs share (`shared.is_shared`) is walked once: later configs reuse what that walk
gathered and which objects it saw.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mesh_components import names
from mesh_components.emit.envoy.metrics import CLUSTER_KEYS
from mesh_components.emit.envoy.shared import is_shared
from mesh_components.emit.envoy.types import LUA_PER_ROUTE, TCP_PROXY, UPSTREAM_TLS, Json
from mesh_components.names import LOCAL_TLS_CLUSTER_PREFIX

if TYPE_CHECKING:
    from mesh_components.emit.envoy.config import EnvoyConfig


class InconsistentConfigError(Exception):
    """The emitted config references something missing or repeats a name (a compiler bug).
    `problems` lists every problem found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"inconsistent Envoy config (a bug in mesh_components):\n{lines}")


def check(config: EnvoyConfig) -> None:
    """Raise InconsistentConfigError listing every problem, or return None."""
    index = _Index.of(config)
    problems = [problem for rule in _RULES for problem in rule(config, index)]
    if problems:
        raise InconsistentConfigError(problems)


def all_chains(listener: Json) -> list[Json]:
    """A listener's filter chains, its default chain included."""
    default = listener.get("default_filter_chain")
    return [*listener.get("filter_chains", []), *([default] if default else [])]


_SUBSCRIBERS = ("listener", "cluster", "bootstrap")

# Walks of shared clusters, by id (the cluster is kept, so its id is never reused): the
# cluster, what its walk gathered, and the ids of every object it saw.
_WALKED: dict[int, tuple[Json, _Index, frozenset[int]]] = {}
_WALKED_LIMIT = 20_000


@dataclass(slots=True)
class _Index:
    """What the rules read, gathered in one walk of each document. An owner is the resource
    a message sits in, as the problems name it (`listener 'outbound'`)."""

    shared: list[str] = field(default_factory=list)
    embedded: list[tuple[str, Json]] = field(default_factory=list)
    """(listener name, route config) for every route config inlined in a listener."""
    route_actions: list[tuple[str, Json]] = field(default_factory=list)
    """(owner, action) for every route's action, the owner being its route config."""
    tcp_proxies: list[tuple[str, Json]] = field(default_factory=list)
    secret_users: list[tuple[str, Json]] = field(default_factory=list)
    subscriptions: list[Json] = field(default_factory=list)
    upstream_tls: list[tuple[str, Json]] = field(default_factory=list)
    """(cluster name, UpstreamTlsContext)."""
    lua_calls: list[tuple[str, str]] = field(default_factory=list)
    """(owner, cluster) for every cluster a route's Lua filter context calls."""

    @classmethod
    def of(cls, config: EnvoyConfig) -> _Index:
        index = cls()
        index.document("listeners", "listener", config.listeners)
        inlined = {id(route_config) for _, route_config in index.embedded}
        unembedded = [r for r in config.route_configs if id(r) not in inlined]
        index.document("route configs", "route config", unembedded)
        index.document("clusters", "cluster", config.clusters)
        index.document("secrets", "secret", config.secrets)
        index.document("bootstrap", "bootstrap", [config.bootstrap])
        return index

    def document(self, document: str, kind: str, resources: Iterable[Json]) -> None:
        """Walk one document's resources, sharing one set of seen objects."""
        seen: set[int] = set()
        for resource in resources:
            name = str(resource.get("name", document))
            owner = f"{kind} {name!r}"
            route_config = owner if kind == "route config" else None
            references = kind in ("listener", "cluster")
            walk = _Walk(document, kind, name, owner, seen, references, kind in _SUBSCRIBERS)
            if not (kind == "cluster" and is_shared(resource) and self._reuse(resource, walk)):
                self._walk(resource, walk, route_config)

    def _reuse(self, cluster: Json, walk: _Walk) -> bool:
        """Add what a walk of this shared cluster gathered, walking it the first time; False
        when it cannot be reused (it shares an object with itself or with this document)."""
        found = _WALKED.get(id(cluster))
        if found is None:
            alone, alone_walk = _Index(), replace(walk, seen=set())
            alone._walk(cluster, alone_walk, None)
            found = (cluster, alone, frozenset(alone_walk.seen))
            if len(_WALKED) >= _WALKED_LIMIT:
                _WALKED.clear()
            _WALKED[id(cluster)] = found
        _, alone, seen = found
        if alone.shared or not walk.seen.isdisjoint(seen):
            return False
        walk.seen.update(seen)
        self.embedded.extend(alone.embedded)
        self.route_actions.extend(alone.route_actions)
        self.tcp_proxies.extend(alone.tcp_proxies)
        self.secret_users.extend(alone.secret_users)
        self.subscriptions.extend(alone.subscriptions)
        self.upstream_tls.extend(alone.upstream_tls)
        self.lua_calls.extend(alone.lua_calls)
        return True

    def _walk(self, node: Any, walk: _Walk, route_config: str | None) -> None:
        """Every dict and list under `node` once; a second sighting is a shared object.
        It runs for every node of every config, so it stays lean (no generators)."""
        if id(node) in walk.seen:
            self.shared.append(
                f"the {walk.document} use one object in several places: {node!r:.60}"
            )
            return
        walk.seen.add(id(node))
        if type(node) is list:
            for item in node:
                if type(item) is dict or type(item) is list:
                    self._walk(item, walk, route_config)
            return
        self._record(node, walk, route_config)
        for key, value in node.items():
            if type(value) is dict:
                if key == "route_config" and walk.kind == "listener":
                    self.embedded.append((walk.owner, value))
                    self._walk(value, walk, f"route config {value.get('name')!r}")
                else:
                    self._walk(value, walk, route_config)
            elif type(value) is list:
                self._walk(value, walk, route_config)

    def _record(self, message: Json, walk: _Walk, route_config: str | None) -> None:
        """Note what the rules read in this message."""
        if route_config is not None and "route" in message and "match" in message:
            self.route_actions.append((route_config, message["route"]))
        if walk.references and (
            "tls_certificate_sds_secret_configs" in message
            or "validation_context_sds_secret_config" in message
        ):
            self.secret_users.append((walk.owner, message))
        if walk.subscribes and "path_config_source" in message:
            self.subscriptions.append(message["path_config_source"])
        if "@type" in message:
            self._typed(message, walk)

    def _typed(self, message: Json, walk: _Walk) -> None:
        type_url = message["@type"]
        if type_url == TCP_PROXY.url and walk.kind == "listener":
            self.tcp_proxies.append((walk.owner, message))
        elif type_url == UPSTREAM_TLS.url and walk.kind == "cluster":
            self.upstream_tls.append((walk.name, message))
        elif type_url == LUA_PER_ROUTE and "filter_context" in message:
            # (A route that turns the filter off has no context.) A key missing is a call to no
            # cluster, reported as such: a renamed key stays checked.
            context = message["filter_context"]
            calls = [str(context.get(key, "")) for key in CLUSTER_KEYS]
            self.lua_calls += [(walk.owner, cluster) for cluster in calls]


@dataclass(frozen=True, slots=True)
class _Walk:
    """Where a walk is: its document, the kind and owner of the resource, what it has seen."""

    document: str
    kind: str
    name: str
    owner: str
    seen: set[int]
    references: bool
    """Whether secret references count here (listeners and clusters use secrets)."""
    subscribes: bool
    """Whether file subscriptions count here (listeners, clusters and the bootstrap)."""


def _duplicates(kind: str, resources: Iterable[Json]) -> list[str]:
    counts = Counter(resource["name"] for resource in resources)
    return [f"duplicate {kind} name {name!r}" for name, n in sorted(counts.items()) if n > 1]


def _unique_names(config: EnvoyConfig, _: _Index) -> list[str]:
    return [
        *_duplicates("listener", config.listeners),
        *_duplicates("route config", config.route_configs),
        *_duplicates("cluster", config.clusters),
        *_duplicates("secret", config.secrets),
    ]


def _shared_objects(_: EnvoyConfig, index: _Index) -> list[str]:
    """One object in two places of a document dumps as a YAML anchor and alias, and a
    change to one place would silently change the other."""
    return index.shared


def _listener_shapes(config: EnvoyConfig, _: _Index) -> list[str]:
    problems = []
    for listener in config.listeners:
        name = listener["name"]
        if not all_chains(listener):
            problems.append(f"listener {name!r} has no filter chains")
        problems += [
            f"listener {name!r}: {p}" for p in _duplicates("filter chain", all_chains(listener))
        ]
        problems += [f"listener {name!r}: {p}" for p in _duplicate_matches(listener)]
    return problems


def _duplicate_matches(listener: Json) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    for chain in listener.get("filter_chains", []):
        match = json.dumps(chain.get("filter_chain_match", {}), sort_keys=True)
        if match in seen:
            problems.append(
                f"chains {seen[match]!r} and {chain['name']!r} have the same match {match}"
            )
        seen.setdefault(match, chain["name"])
    return problems


def _route_configs_listed(config: EnvoyConfig, index: _Index) -> list[str]:
    """The route configs inlined in listeners are exactly the ones listed for review."""
    listed = {route_config["name"]: route_config for route_config in config.route_configs}
    embedded = set()
    problems = []
    for listener, route_config in index.embedded:
        name = route_config["name"]
        embedded.add(name)
        if listed.get(name) != route_config:
            problems.append(
                f"{listener} embeds a route config {name!r} that differs from the listed one"
            )
    problems += [
        f"route config {name!r} is listed but no listener embeds it"
        for name in sorted(listed.keys() - embedded)
    ]
    return problems


def _virtual_hosts(config: EnvoyConfig, _: _Index) -> list[str]:
    problems = []
    for route_config in config.route_configs:
        hosts = route_config["virtual_hosts"]
        problems += [
            f"route config {route_config['name']!r}: {p}"
            for p in _duplicates("virtual host", hosts)
        ]
        domains = Counter(domain for host in hosts for domain in host["domains"])
        problems += [
            f"route config {route_config['name']!r}: domain {d!r} in several virtual hosts"
            for d, n in sorted(domains.items())
            if n > 1
        ]
    return problems


def _cluster_references(config: EnvoyConfig, index: _Index) -> list[str]:
    """Route actions (in route configs), tcp_proxy configs (in listeners) and the clusters a
    route's Lua filter calls (metrics merging) exist, and a split's weights do not sum to 0."""
    clusters = {cluster["name"] for cluster in config.clusters}
    problems = []
    for owner, target in [*index.tcp_proxies, *index.route_actions]:
        weighted = target.get("weighted_clusters", {}).get("clusters", [])
        single = [target["cluster"]] if "cluster" in target else []
        problems += [
            f"{owner} routes to missing cluster {n!r}"
            for n in [w["name"] for w in weighted] + single
            if n not in clusters
        ]
        if weighted and sum(w["weight"] for w in weighted) == 0:
            problems.append(f"{owner} splits over weights that sum to 0")
    problems += [
        f"{owner} has a Lua filter call missing cluster {name!r}"
        for owner, name in index.lua_calls
        if name not in clusters
    ]
    return sorted(set(problems))


def _secret_names(message: Json) -> list[str]:
    refs = message.get("tls_certificate_sds_secret_configs", [])
    validation = message.get("validation_context_sds_secret_config")
    return [ref["name"] for ref in [*refs, *([validation] if validation else [])]]


def _secret_references(config: EnvoyConfig, index: _Index) -> list[str]:
    secrets = {secret["name"] for secret in config.secrets}
    problems = [
        f"{owner} uses missing secret {name!r}"
        for owner, message in index.secret_users
        for name in _secret_names(message)
        if name not in secrets
    ]
    return sorted(set(problems))


def _files(config: EnvoyConfig) -> set[str]:
    """The names of the files `config.documents()` writes."""
    fixed = {names.BOOTSTRAP_FILE, names.LDS_FILE, names.CDS_FILE}
    return fixed | {names.SDS_FILES[secret["name"]] for secret in config.secrets}


def _file_references(config: EnvoyConfig, index: _Index) -> list[str]:
    """Every file a subscription reads is one we write, in the directory it watches."""
    files = _files(config)
    problems = []
    for source in index.subscriptions:
        directory, filename = posixpath.split(source["path"])
        if filename not in files:
            problems.append(
                f"a subscription reads {source['path']!r}, which is not among the files"
            )
        if source.get("watched_directory", {}).get("path") != directory:
            problems.append(f"a subscription to {source['path']!r} does not watch {directory!r}")
    return sorted(set(problems))


def _upstream_identities(_: EnvoyConfig, index: _Index) -> list[str]:
    """An upstream that matches no SAN would accept any mesh identity. The exception is a
    local TLS cluster (HTTPS probes of the app on loopback): it checks no certificate, as the
    kubelet did not, so it must never present our identity."""
    problems = []
    for name, message in index.upstream_tls:
        common = message.get("common_tls_context", {})
        if name.startswith(LOCAL_TLS_CLUSTER_PREFIX):
            if common.get("tls_certificate_sds_secret_configs") or common.get("tls_certificates"):
                problems.append(f"cluster {name!r} shows our identity to an unchecked peer")
            continue
        validation = common.get("combined_validation_context", {})
        matchers = validation.get("default_validation_context", {})
        if not matchers.get("match_typed_subject_alt_names"):
            problems.append(f"cluster {name!r} accepts any peer identity")
    return problems


_RULES = (
    _unique_names,
    _shared_objects,
    _listener_shapes,
    _route_configs_listed,
    _virtual_hosts,
    _cluster_references,
    _secret_references,
    _file_references,
    _upstream_identities,
)
