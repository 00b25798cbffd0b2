"""Cross-reference checks on one workload's emitted config, like go-control-plane's
`Snapshot.Consistent`: every name referenced exists, no name or filter-chain match repeats,
no listener is empty. A failure is a compiler bug, never a user's mistake.
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mesh_components.emit.envoy.types import TCP_PROXY, UPSTREAM_TLS, Json
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
    problems = [problem for rule in _RULES for problem in rule(config)]
    if problems:
        raise InconsistentConfigError(problems)


def _duplicates(kind: str, resources: Iterable[Json]) -> list[str]:
    counts = Counter(resource["name"] for resource in resources)
    return [f"duplicate {kind} name {name!r}" for name, n in sorted(counts.items()) if n > 1]


def _unique_names(config: EnvoyConfig) -> list[str]:
    return [
        *_duplicates("listener", config.listeners),
        *_duplicates("route config", config.route_configs),
        *_duplicates("cluster", config.clusters),
        *_duplicates("secret", config.secrets),
    ]


def all_chains(listener: Json) -> list[Json]:
    """A listener's filter chains, its default chain included."""
    default = listener.get("default_filter_chain")
    return [*listener.get("filter_chains", []), *([default] if default else [])]


def _listener_shapes(config: EnvoyConfig) -> list[str]:
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


def _containers(tree: Any) -> Iterator[Json | list[Any]]:
    """Every dict and list nested in `tree`, depth first."""
    if isinstance(tree, dict | list):
        yield tree
        for value in tree.values() if isinstance(tree, dict) else tree:
            yield from _containers(value)


def _dicts(tree: Any) -> Iterator[Json]:
    """Every message nested in `tree`, depth first."""
    return (node for node in _containers(tree) if isinstance(node, dict))


def _shared_objects(config: EnvoyConfig) -> list[str]:
    """One object in two places of a document dumps as a YAML anchor and alias, and a
    change to one place would silently change the other."""
    documents = {
        "listeners": list(config.listeners),
        "route configs": list(config.route_configs),
        "clusters": list(config.clusters),
        "secrets": list(config.secrets),
        "bootstrap": config.bootstrap,
        "static bootstrap": config.static_bootstrap,
    }
    problems = []
    for name, document in documents.items():
        seen: set[int] = set()
        for node in _containers(document):
            if id(node) in seen:
                problems.append(f"the {name} use one object in several places: {node!r:.60}")
            seen.add(id(node))
    return problems


def _route_configs_listed(config: EnvoyConfig) -> list[str]:
    """The route configs inlined in listeners are exactly the ones listed for review."""
    listed = {route_config["name"]: route_config for route_config in config.route_configs}
    embedded = set()
    problems = []
    for listener in config.listeners:
        for message in _dicts(listener):
            route_config = message.get("route_config")
            if route_config is None:
                continue
            name = route_config["name"]
            embedded.add(name)
            if listed.get(name) != route_config:
                problems.append(
                    f"listener {listener['name']!r} embeds a route config {name!r} "
                    "that differs from the listed one"
                )
    problems += [
        f"route config {name!r} is listed but no listener embeds it"
        for name in sorted(listed.keys() - embedded)
    ]
    return problems


def _virtual_hosts(config: EnvoyConfig) -> list[str]:
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


def _targets(tree: Json, *, routes: bool) -> Iterator[Json]:
    """The messages that name clusters: route actions in route configs, or tcp_proxy configs
    in listeners (their inline route configs are checked once, as listed)."""
    for message in _dicts(tree):
        if routes and "match" in message and "route" in message:
            yield message["route"]
        if not routes and message.get("@type") == TCP_PROXY.url:
            yield message


def _cluster_references(config: EnvoyConfig) -> list[str]:
    clusters = {cluster["name"] for cluster in config.clusters}
    problems = []
    resources = [(r, False) for r in config.listeners] + [(r, True) for r in config.route_configs]
    for resource, routes in resources:
        for target in _targets(resource, routes=routes):
            weighted = target.get("weighted_clusters", {}).get("clusters", [])
            single = [target["cluster"]] if "cluster" in target else []
            names = [w["name"] for w in weighted] + single
            owner = f"{'route config' if routes else 'listener'} {resource['name']!r}"
            problems += [
                f"{owner} routes to missing cluster {n!r}" for n in names if n not in clusters
            ]
            if weighted and sum(w["weight"] for w in weighted) == 0:
                problems.append(f"{owner} splits over weights that sum to 0")
    return sorted(set(problems))


def _secret_names(message: Json) -> list[str]:
    refs = message.get("tls_certificate_sds_secret_configs", [])
    validation = message.get("validation_context_sds_secret_config")
    return [ref["name"] for ref in [*refs, *([validation] if validation else [])]]


def _secret_references(config: EnvoyConfig) -> list[str]:
    secrets = {secret["name"] for secret in config.secrets}
    problems = []
    resources = [("listener", r) for r in config.listeners] + [
        ("cluster", r) for r in config.clusters
    ]
    for kind, resource in resources:
        for message in _dicts(resource):
            missing = [n for n in _secret_names(message) if n not in secrets]
            problems += [f"{kind} {resource['name']!r} uses missing secret {n!r}" for n in missing]
    return sorted(set(problems))


def _file_references(config: EnvoyConfig) -> list[str]:
    """Every file a subscription reads is one we write, in the directory it watches."""
    documents = config.documents()
    problems = []
    trees = (config.bootstrap, *config.listeners, *config.clusters)
    for source in (
        m["path_config_source"] for t in trees for m in _dicts(t) if "path_config_source" in m
    ):
        directory, filename = posixpath.split(source["path"])
        if filename not in documents:
            problems.append(
                f"a subscription reads {source['path']!r}, which is not among the files"
            )
        if source.get("watched_directory", {}).get("path") != directory:
            problems.append(f"a subscription to {source['path']!r} does not watch {directory!r}")
    return sorted(set(problems))


def _upstream_identities(config: EnvoyConfig) -> list[str]:
    """An upstream that matches no SAN would accept any mesh identity. The exception is a
    local TLS cluster (HTTPS probes of the app on loopback): it checks no certificate, as the
    kubelet did not, so it must never present our identity."""
    problems = []
    for cluster in config.clusters:
        name = cluster["name"]
        for message in _dicts(cluster):
            if message.get("@type") != UPSTREAM_TLS.url:
                continue
            common = message.get("common_tls_context", {})
            if name.startswith(LOCAL_TLS_CLUSTER_PREFIX):
                if common.get("tls_certificate_sds_secret_configs") or common.get(
                    "tls_certificates"
                ):
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
