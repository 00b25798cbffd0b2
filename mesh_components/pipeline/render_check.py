"""Check rendered manifests with the real Envoy, as the pods would run them: each workload's
mounted ConfigMap, read with the certificates of the Secret it mounts.

Envoy's validate mode opens no `path_config_source` file (FACTS.md), so the LDS, CDS and SDS
resources are inlined into a static bootstrap: secrets become static secrets that name the
mounted certificate files, which validate mode reads (a key that does not match its
certificate is refused).
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mesh_components import names
from mesh_components.emit.kubernetes.inject import TEMPLATE_PATHS
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.pipeline import envoy_check


@dataclass(frozen=True, slots=True)
class MountedConfig:
    """What one workload's sidecar mounts: its config files and its certificate files."""

    workload: str
    files: dict[str, str]
    certificates: dict[str, bytes]


def mounted_configs(objects: Iterable[Json]) -> Iterator[MountedConfig]:
    """Every injected workload's mounted config, with the Secret's files when it is rendered
    (in cert-manager mode cert-manager makes it in the cluster: no certificates here)."""
    found = list(objects)
    by_name = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in found}
    for obj in found:
        pod = pod_spec(obj)
        volumes = {v["name"]: v for v in (pod or {}).get("volumes") or []}
        if names.CONFIG_VOLUME not in volumes:
            continue
        namespace = obj["metadata"].get("namespace", "default")
        config = by_name[(namespace, volumes[names.CONFIG_VOLUME]["configMap"]["name"])]
        secret = by_name.get((namespace, volumes[names.CERTS_VOLUME]["secret"]["secretName"]))
        certificates = {
            key: base64.b64decode(value)
            for key, value in ((secret or {}).get("data") or {}).items()
        }
        yield MountedConfig(f"{namespace}/{obj['metadata']['name']}", config["data"], certificates)


def validate_mounted(
    binary: Path, configs: Iterable[MountedConfig]
) -> list[envoy_check.EnvoyVerdict]:
    """The real Envoy's verdict on each mounted config."""
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="mesh-render-check-") as scratch:
        for index, mounted in enumerate(configs):
            folder = Path(scratch) / str(index)
            text = static_bootstrap(mounted, folder / "certs")
            verdicts.append(envoy_check.validate_yaml(binary, mounted.workload, text))
    return verdicts


def static_bootstrap(mounted: MountedConfig, certs: Path) -> str:
    """The mounted file-based config as one static bootstrap, with the certificate files
    written under `certs`, which stands in for their mount point."""
    certs.mkdir(parents=True)
    certificates = mounted.certificates or envoy_check.throwaway_certificates(
        "spiffe://cert-manager.invalid/ns/x/sa/y"
    )
    for name, data in certificates.items():
        (certs / name).write_bytes(data)
    bootstrap = yaml.safe_load(mounted.files[names.BOOTSTRAP_FILE])
    bootstrap.pop("dynamic_resources", None)
    static = bootstrap.setdefault("static_resources", {})
    static["listeners"] = _static(_resources(mounted.files[names.LDS_FILE]))
    clusters = _static(_resources(mounted.files[names.CDS_FILE]))
    static["clusters"] = [*static.get("clusters", []), *clusters]
    sds = sorted(name for name in mounted.files if name in names.SDS_FILES.values())
    static["secrets"] = [r for name in sds for r in _resources(mounted.files[name])]
    text = yaml.safe_dump(bootstrap).replace(names.VolumePaths().certs_dir, str(certs))
    if names.VolumePaths().config_dir in text:
        raise ValueError(f"{mounted.workload}: a file reference is left in the static bootstrap")
    return text


def _static(node: Any) -> Any:
    """`node` with every SDS reference turned into a reference to a static secret."""
    if isinstance(node, list):
        return [_static(item) for item in node]
    if isinstance(node, dict):
        return {k: _static(v) for k, v in node.items() if k != "sds_config"}
    return node


def _resources(text: str) -> list[Json]:
    return [{k: v for k, v in r.items() if k != "@type"} for r in yaml.safe_load(text)["resources"]]


def pod_spec(obj: Json) -> Any:
    path = TEMPLATE_PATHS.get(str(obj.get("kind")))
    if path is None:
        return None
    node: Any = obj
    for key in (*path, "spec") if path else ("spec",):
        node = (node or {}).get(key)
    return node
