"""One workload's Envoy configuration, and its files for the config and certificate volumes.

Files are deterministic YAML: sorted keys, block style, lists in the emitters' order.

An upstream cluster is one dict shared by every config that sends to it (`shared.is_shared`),
so its YAML text is written once and reused: a DiscoveryResponse's text is the concatenation of
its resources' texts, as the writer spells each list item on its own (no resource shares an
object with another: `consistency.check` refuses that, and it would need YAML aliases).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh_components import names, yamltext
from mesh_components.emit.envoy.bootstrap import static_bootstrap as _inlined
from mesh_components.emit.envoy.secrets import secrets
from mesh_components.emit.envoy.shared import is_shared
from mesh_components.emit.envoy.types import CLUSTER, LISTENER, SECRET, Json, typed
from mesh_components.names import VolumePaths


@dataclass(frozen=True, slots=True)
class EnvoyConfig:
    """A sidecar's resources and its file-based bootstrap, and on demand an inlined bootstrap
    for `envoy --mode validate`. Route configs are also inlined in the listeners; they are
    listed here for review."""

    listeners: tuple[Json, ...]
    route_configs: tuple[Json, ...]
    clusters: tuple[Json, ...]
    secrets: tuple[Json, ...]
    bootstrap: Json

    @property
    def static_bootstrap(self) -> Json:
        """The bootstrap with every resource inlined (built on each use: only checks need it)."""
        return _inlined(
            self.bootstrap, listeners=self.listeners, clusters=self.clusters, secrets=self.secrets
        )

    def documents(self) -> dict[str, Json]:
        """{filename: document} for the config volume: the bootstrap, LDS, CDS and one SDS
        file per secret. Each xDS file is a DiscoveryResponse."""
        documents = {
            names.BOOTSTRAP_FILE: self.bootstrap,
            names.LDS_FILE: discovery_response(LISTENER, self.listeners),
            names.CDS_FILE: discovery_response(CLUSTER, self.clusters),
        }
        for secret in self.secrets:
            documents[names.SDS_FILES[secret["name"]]] = discovery_response(SECRET, [secret])
        return documents

    def files(self) -> dict[str, str]:
        """{filename: YAML text} of `documents()`, byte-identical for the same plan."""
        return {
            name: _discovery_yaml(CLUSTER, self.clusters)
            if name == names.CDS_FILE
            else to_yaml(document)
            for name, document in self.documents().items()
        }

    def static_bootstrap_yaml(self, certs_dir: str | None = None) -> str:
        """The static bootstrap as YAML, for `envoy --mode validate`.

        Validate mode reads the secrets' files (it rejects a missing file, bad PEM or a key
        that does not match), so a checker passes `certs_dir`: a directory holding the
        certificate, key and CA bundle files, which the secrets then point at.
        """
        if certs_dir is None:
            return to_yaml(self.static_bootstrap)
        moved = secrets(VolumePaths(certs_dir=certs_dir))
        static = {**self.static_bootstrap["static_resources"], "secrets": list(moved)}
        return to_yaml({**self.static_bootstrap, "static_resources": static})


def discovery_response(type_url: str, resources: Sequence[Json]) -> Json:
    """The document a file-based xDS subscription reads: `{resources: [Any, ...]}`."""
    return {"resources": [typed(type_url, **resource) for resource in resources]}


_RESOURCES_KEY = "resources:\n"
# YAML text of shared resources, by id (the resource is kept, so its id is never reused).
_RESOURCE_TEXTS: dict[int, tuple[Json, str]] = {}
_RESOURCE_TEXTS_LIMIT = 20_000


def _discovery_yaml(type_url: str, resources: Sequence[Json]) -> str:
    """`to_yaml(discovery_response(type_url, resources))`, reusing shared resources' text."""
    if not any(is_shared(resource) for resource in resources):
        return to_yaml(discovery_response(type_url, resources))
    return _RESOURCES_KEY + "".join(_resource_yaml(type_url, r) for r in resources)


def _resource_yaml(type_url: str, resource: Json) -> str:
    """One resource's list item in a DiscoveryResponse's text."""
    found = _RESOURCE_TEXTS.get(id(resource))
    if found is not None:
        return found[1]
    text = to_yaml(discovery_response(type_url, [resource]))
    if not text.startswith(_RESOURCES_KEY):
        raise AssertionError(f"unexpected YAML for a DiscoveryResponse: {text:.60}")
    item = text[len(_RESOURCES_KEY) :]
    if is_shared(resource):
        if len(_RESOURCE_TEXTS) >= _RESOURCE_TEXTS_LIMIT:
            _RESOURCE_TEXTS.clear()
        _RESOURCE_TEXTS[id(resource)] = (resource, item)
    return item


def to_yaml(document: Json) -> str:
    return yamltext.dump(document, sort_keys=True)
