"""Pod volumes in the kubelet's layout, and their atomic update.

    <volume dir>/..2026_11_23_12_00_00.123456789/<files>   the current payload
    <volume dir>/..data -> ..2026_...                       swapped by one rename()
    <volume dir>/<key> -> ..data/<key>                      what the container sees

An update writes a new timestamped directory and renames a fresh `..data` link over the old
one, as the kubelet's AtomicWriter does; Envoy's `watched_directory` sees exactly that move.
ConfigMap, Secret, downwardAPI and projected volumes have a payload; emptyDir is a directory.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.local.manifests import Manifests

Payload = dict[str, tuple[bytes, int]]
"""Relative path → (content, mode)."""

DEFAULT_MODE = 0o644
TOKEN_NOTE = b"no-api-server: the local runner issues no service account tokens\n"


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What downwardAPI files may show about a pod."""

    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    service_account: str
    tokens: TokenSource | None = None


TokenSource = Callable[[PodFacts, Json], bytes]
"""A ServiceAccount token for a pod and a projected `serviceAccountToken` source."""


def payload(volume: Json, objects: Manifests, pod: PodFacts, where: str) -> Payload | None:
    """The files of a volume, or None for a plain directory (emptyDir and claims)."""
    if "configMap" in volume:
        return _config_map(volume["configMap"], objects, pod.namespace, where)
    if "secret" in volume:
        return _secret(volume["secret"], objects, pod.namespace, where)
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        return _downward(source.get("items") or [], pod, source.get("defaultMode", DEFAULT_MODE))
    if "projected" in volume:
        return _projected(volume["projected"], objects, pod, where)
    if "emptyDir" in volume or "persistentVolumeClaim" in volume:
        return None
    kinds = ", ".join(k for k in volume if k != "name")
    fix = "use configMap, secret, emptyDir, downwardAPI or projected volumes locally"
    expected = "a volume the local runner supports"
    raise MeshValidationError([Problem(where, "local-volume-unsupported", expected, kinds, fix)])


def _config_map(source: Json, objects: Manifests, namespace: str, where: str) -> Payload:
    found = objects.get("ConfigMap", namespace, source.get("name", ""))
    data = {} if found is None else _decoded(found, binary_key="binaryData", encoded=False)
    return _selected(
        data, source, found is None, f"ConfigMap {namespace}/{source.get('name')}", where
    )


def _secret(source: Json, objects: Manifests, namespace: str, where: str) -> Payload:
    found = objects.get("Secret", namespace, str(source.get("secretName", source.get("name"))))
    data = {} if found is None else _decoded(found, binary_key="data", encoded=True)
    name = source.get("secretName", source.get("name"))
    return _selected(data, source, found is None, f"Secret {namespace}/{name}", where)


def _decoded(obj: Json, *, binary_key: str, encoded: bool) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    plain = "stringData" if encoded else "data"
    for key, value in (obj.get(plain) or {}).items():
        out[key] = str(value).encode()
    for key, value in (obj.get(binary_key) or {}).items():
        out[key] = base64.b64decode(value)
    return out


def _selected(data: dict[str, bytes], source: Json, absent: bool, what: str, where: str) -> Payload:
    if absent and not source.get("optional", False):
        fix = f"add {what} to the manifests, or mark the volume optional"
        raise MeshValidationError(
            [Problem(where, "local-volume-source-missing", what, "none", fix)]
        )
    mode = int(source.get("defaultMode", DEFAULT_MODE))
    items = source.get("items")
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    chosen: Payload = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional", False):
                continue
            fix = f"add key {item['key']!r} to {what}"
            raise MeshValidationError(
                [Problem(where, "local-volume-key-missing", item["key"], "none", fix)]
            )
        chosen[item["path"]] = (data[item["key"]], int(item.get("mode", mode)))
    return chosen


def _downward(items: list[Json], pod: PodFacts, mode: int) -> Payload:
    files: Payload = {}
    for item in items:
        field = (item.get("fieldRef") or {}).get("fieldPath")
        value = (
            field_value(field, pod)
            if field
            else str((item.get("resourceFieldRef") or {}).get("resource", ""))
        )
        files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
    return files


def field_value(path: str, pod: PodFacts) -> str:
    """A `fieldRef.fieldPath` as the kubelet renders it."""
    if path in ("metadata.labels", "metadata.annotations"):
        pairs = pod.labels if path == "metadata.labels" else pod.annotations
        return "\n".join(f'{k}="{v}"' for k, v in sorted(pairs.items()))
    for prefix, pairs in (
        ("metadata.labels", pod.labels),
        ("metadata.annotations", pod.annotations),
    ):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return pairs.get(path[len(prefix) + 2 : -2], "")
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.serviceAccountName": pod.service_account,
        "spec.nodeName": "local",
    }
    return simple.get(path, "")


def _projected(source: Json, objects: Manifests, pod: PodFacts, where: str) -> Payload:
    mode = int(source.get("defaultMode", DEFAULT_MODE))
    files: Payload = {}
    for number, part in enumerate(source.get("sources") or []):
        at = f"{where}.projected.sources[{number}]"
        if "configMap" in part:
            files.update(
                _config_map({"defaultMode": mode, **part["configMap"]}, objects, pod.namespace, at)
            )
        elif "secret" in part:
            files.update(
                _secret({"defaultMode": mode, **part["secret"]}, objects, pod.namespace, at)
            )
        elif "downwardAPI" in part:
            files.update(_downward(part["downwardAPI"].get("items") or [], pod, mode))
        elif "serviceAccountToken" in part:
            source = part["serviceAccountToken"]
            token = TOKEN_NOTE if pod.tokens is None else pod.tokens(pod, source)
            files[source["path"]] = (token, mode)
        else:
            kinds = ", ".join(part)
            raise MeshValidationError(
                [
                    Problem(
                        at,
                        "local-volume-unsupported",
                        "configMap, secret, downwardAPI or token",
                        kinds,
                    )
                ]
            )
    return files


def write_atomically(directory: Path, files: Payload) -> bool:
    """Publish `files` in `directory` by a `..data` swap; False when nothing changed."""
    directory.mkdir(parents=True, exist_ok=True)
    if current(directory) == files:
        return False
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
    fresh = directory / f"..{stamp}"
    fresh.mkdir(mode=0o755)
    for relative, (content, mode) in files.items():
        target = fresh / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    old = (directory / "..data").resolve() if (directory / "..data").is_symlink() else None
    staged = directory / "..data_tmp"
    staged.unlink(missing_ok=True)
    staged.symlink_to(fresh.name)
    staged.rename(directory / "..data")
    _link_visible(directory, {relative.split("/")[0] for relative in files})
    if old is not None and old.name != fresh.name:
        shutil.rmtree(old, ignore_errors=True)
    return True


def _link_visible(directory: Path, names: set[str]) -> None:
    for name in names:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    for entry in directory.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in names:
            entry.unlink()


def current(directory: Path) -> Payload | None:
    """What `directory` publishes now, or None when it was never written."""
    data = directory / "..data"
    if not data.is_symlink():
        return None
    return dict(_walk(data.resolve(), ""))


def _walk(root: Path, prefix: str) -> Iterator[tuple[str, tuple[bytes, int]]]:
    for entry in sorted(root.iterdir()):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _walk(entry, relative + "/")
        else:
            yield relative, (entry.read_bytes(), entry.stat().st_mode & 0o7777)


def make_empty_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # An emptyDir is writable by every container of the pod.
