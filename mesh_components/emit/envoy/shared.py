"""Resources that several workloads' configs hold as one dict, built once per mesh.

An upstream cluster depends only on its upstream, so every caller of a service port gets the
same dict (`clusters.upstream_cluster`). Emitted dicts are never changed after they are built,
so the YAML writer (`config.files`) and the consistency check can do their work on a shared
resource once and reuse it. A resource is registered with `share` and stays alive while it is
registered, so its id names it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from mesh_components.emit.envoy.types import Json

# Shared resources by key and by id; cleared together when they grow past the limit.
_BY_KEY: dict[Hashable, Json] = {}
_IDS: set[int] = set()
_LIMIT = 20_000


def share(key: Hashable, build: Callable[[], Json]) -> Json:
    """The resource registered under `key`, built by `build()` the first time."""
    found = _BY_KEY.get(key)
    if found is None:
        if len(_BY_KEY) >= _LIMIT:
            _BY_KEY.clear()
            _IDS.clear()
        found = _BY_KEY[key] = build()
        _IDS.add(id(found))
    return found


def is_shared(resource: Json) -> bool:
    """Whether `resource` is one that `share` built (and so may be held by several configs)."""
    return id(resource) in _IDS
