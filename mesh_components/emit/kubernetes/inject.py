"""Injection: a pod template (or a workload manifest) in, the same template with the mesh out.

The mesh adds its init container, the sidecar, two volumes, the probe rewrites and two
annotations. Injecting again first takes the previous injection out, so twice equals once.
Order and permissions are explained in docs/sidecar.md ("Injection").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mesh_components import names
from mesh_components.emit.envoy.routes import probe_target
from mesh_components.emit.kubernetes import probes as probe_rewriting
from mesh_components.emit.kubernetes.init_container import init_container
from mesh_components.emit.kubernetes.iptables import interception_for
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.sidecar import sidecar_container
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import LogLevel, MeshSettings, Probe, SidecarMode
from mesh_components.validate.workloads import pod_probe_problems

VOLUME_MODE = 0o444
"""Files readable by the proxy UID without `fsGroup`, which would re-own every volume of the
pod. Only the proxy container mounts these volumes, so no other container can read them."""

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
"""Where each injectable kind keeps its pod template (a Pod is its own)."""

_MESH_CONTAINERS = (names.INIT_CONTAINER, names.PROXY_CONTAINER)
_MESH_VOLUMES = (names.CONFIG_VOLUME, names.CERTS_VOLUME)
_MESH_ANNOTATIONS = (names.CONFIG_HASH_ANNOTATION, names.ORIGINAL_PROBES_ANNOTATION)
_RUN_TO_COMPLETION = ("Never", "OnFailure")
_SCRAPE, _SCRAPE_PORT, _SCRAPE_PATH = (
    "prometheus.io/scrape",
    "prometheus.io/port",
    "prometheus.io/path",
)
_SCRAPE_KEYS = (_SCRAPE, _SCRAPE_PORT, _SCRAPE_PATH)


@dataclass(frozen=True, slots=True)
class ProxyBinding:
    """The objects a workload's sidecar reads: its config ConfigMap and identity Secret, and
    the hash of its config, which rolls the pods when the config changes (None where config
    changes reload in place and must not roll the pods)."""

    config_map: str
    secret: str
    config_hash: str | None


def inject_manifest(manifest: Json, settings: MeshSettings, binding: ProxyBinding) -> Json:
    """A copy of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod with
    its pod template injected. Problems are reported at paths under `<Kind>[ns/name]`."""
    copy = _copied(manifest)
    kind, meta = str(copy.get("kind")), copy.get("metadata") or {}
    at = f"{kind}[{meta.get('namespace', 'default')}/{meta.get('name', '')}]"
    if kind not in TEMPLATE_PATHS:
        raise MeshValidationError([_unsupported_kind(at, kind)])
    if opted_out(meta):
        return copy
    if kind in ("Job", "CronJob") and settings.proxy.sidecar_mode is SidecarMode.CLASSIC:
        raise MeshValidationError([_classic_completion(at, f"a {kind}")])
    path = TEMPLATE_PATHS[kind]
    template = _dig(copy, path) if path else {"metadata": meta, "spec": copy.get("spec") or {}}
    prefix = ".".join((at, *path))
    try:
        injected = inject_pod_template(template, settings, binding)
    except MeshValidationError as error:
        raise MeshValidationError(_under(prefix, error.problems)) from None
    if path:
        _dig(copy, path[:-1])[path[-1]] = injected
        return copy
    return {**copy, "metadata": injected["metadata"], "spec": injected["spec"]}


def inject_pod_template(template: Json, settings: MeshSettings, binding: ProxyBinding) -> Json:
    """`template` with the mesh, or unchanged (as a copy) when it opts out.

    Raises MeshValidationError listing every reason the pod cannot join the mesh: host
    networking, no ServiceAccount, a name of ours taken, classic mode on a pod that must
    complete, probes the sidecar cannot answer, or bad interception annotations.
    """
    copy = _copied(template)
    if opted_out(copy.get("metadata") or {}):
        return copy
    base = uninjected(copy)
    spec, annotations = base.get("spec") or {}, _annotations(base)
    problems = list(_problems(spec, settings))
    try:
        interception = interception_for(settings, annotations)
    except MeshValidationError as error:
        problems += _annotation_problems(error.problems)
    log_level, level_problems = _log_level(annotations)
    problems += _annotation_problems(level_problems)
    if problems:
        raise MeshValidationError(problems)
    probes = probe_rewriting.probes_of(spec)
    probe_ports = tuple(sorted({probe_target(p, settings.proxy.ports).port for p in probes}))
    init = init_container(settings, interception, probe_ports)
    new_spec = _mesh_spec(spec, settings, binding, init, log_level)
    annotations |= _mesh_annotations(spec, new_spec, probes, binding)
    annotations |= _scrape_annotations(annotations, settings)
    metadata = {**base.get("metadata", {}), "annotations": annotations}
    return {**base, "metadata": metadata, "spec": new_spec}


def uninjected(template: Json) -> Json:
    """A copy of `template` without a previous injection: our containers, volumes and
    annotations removed and the app's own probes restored (those still as we rewrote them;
    a probe changed since is the user's). A template never injected is returned as it is."""
    copy = _copied(template)
    annotations = _annotations(copy)
    if names.CONFIG_HASH_ANNOTATION not in annotations:
        return copy
    spec = copy.setdefault("spec", {})
    for key in ("initContainers", "containers"):
        spec[key] = [c for c in spec.get(key, []) if c.get("name") not in _MESH_CONTAINERS]
    spec["volumes"] = [v for v in spec.get("volumes", []) if v.get("name") not in _MESH_VOLUMES]
    _restore_probes(spec, json.loads(annotations.get(names.ORIGINAL_PROBES_ANNOTATION, "{}")))
    ours = _SCRAPE_KEYS if annotations.get(_SCRAPE_PATH) == names.PROMETHEUS_PATH else ()
    kept = {k: v for k, v in annotations.items() if k not in (*_MESH_ANNOTATIONS, *ours)}
    copy["metadata"] = {**copy.get("metadata", {}), "annotations": kept}
    return copy


def _restore_probes(spec: Json, records: dict[str, dict[str, list[Json]]]) -> None:
    for container in spec.get("containers", []):
        for field, (original, rewritten) in records.get(container.get("name"), {}).items():
            if container.get(field) == rewritten:
                container[field] = original


def _mesh_spec(
    spec: Json,
    settings: MeshSettings,
    binding: ProxyBinding,
    init: Json,
    log_level: LogLevel | None,
) -> Json:
    """Init container first; in native mode the sidecar next, so the user's init containers
    already run through it. In classic mode the sidecar is the first app container."""
    new_spec = probe_rewriting.rewrite_probes(spec, settings)
    proxy = sidecar_container(settings, log_level)
    user_init = spec.get("initContainers", [])
    if settings.proxy.sidecar_mode is SidecarMode.NATIVE:
        new_spec["initContainers"] = [init, proxy, *user_init]
    else:
        new_spec["initContainers"] = [init, *user_init]
        new_spec["containers"] = [proxy, *new_spec.get("containers", [])]
    new_spec["volumes"] = [*spec.get("volumes", []), *_volumes(binding)]
    return new_spec


def _volumes(binding: ProxyBinding) -> list[Json]:
    config = {"name": binding.config_map, "defaultMode": VOLUME_MODE}
    secret = {"secretName": binding.secret, "defaultMode": VOLUME_MODE}
    return [
        {"name": names.CONFIG_VOLUME, "configMap": config},
        {"name": names.CERTS_VOLUME, "secret": secret},
    ]


def _mesh_annotations(
    spec: Json, new_spec: Json, probes: tuple[Probe, ...], binding: ProxyBinding
) -> dict[str, str]:
    """The config hash, and each rewritten probe as written and as rewritten."""
    found = (
        {} if binding.config_hash is None else {names.CONFIG_HASH_ANNOTATION: binding.config_hash}
    )
    records: dict[str, dict[str, list[Json]]] = {}
    before = {c["name"]: c for c in spec.get("containers", [])}
    after = {c["name"]: c for c in new_spec.get("containers", [])}
    for probe in probes:
        field = probe_rewriting.PROBE_FIELDS[probe.kind]
        pair = [before[probe.container][field], after[probe.container][field]]
        records.setdefault(probe.container, {})[field] = pair
    if records:
        text = json.dumps(records, sort_keys=True, separators=(",", ":"))
        found[names.ORIGINAL_PROBES_ANNOTATION] = text
    return found


def _scrape_annotations(annotations: dict[str, str], settings: MeshSettings) -> dict[str, str]:
    """Prometheus' conventional annotations, pointing at the sidecar's stats listener; left
    out when the pod already declares its own scraping (the app's metrics win)."""
    if any(key.startswith("prometheus.io/") for key in annotations):
        return {}
    port = str(settings.proxy.ports.prometheus)
    return {_SCRAPE: "true", _SCRAPE_PORT: port, _SCRAPE_PATH: names.PROMETHEUS_PATH}


# Checks.


def _problems(spec: Json, settings: MeshSettings) -> Iterator[Problem]:
    if spec.get("hostNetwork") is True:
        yield Problem(
            "spec.hostNetwork",
            "inject-host-network",
            "a pod with its own network namespace",
            "hostNetwork: true",
            "the init container's rules would redirect the node's traffic; leave this pod "
            f"out of the mesh with the annotation {names.INJECT_ANNOTATION}: 'false'",
        )
    if not spec.get("serviceAccountName"):
        yield Problem(
            "spec.serviceAccountName",
            "inject-no-service-account",
            "the ServiceAccount the pod runs as (it is the pod's mesh identity)",
            repr(spec["serviceAccountName"]) if "serviceAccountName" in spec else "nothing",
            "set serviceAccountName; the 'default' account would share one identity",
        )
    yield from _collisions(spec)
    restart = spec.get("restartPolicy", "Always")
    if settings.proxy.sidecar_mode is SidecarMode.CLASSIC and restart in _RUN_TO_COMPLETION:
        yield _classic_completion("spec.restartPolicy", f"restartPolicy {restart}")
    yield from _probe_problems(spec, settings)


def _collisions(spec: Json) -> Iterator[Problem]:
    ours = {"initContainers": _MESH_CONTAINERS, "containers": _MESH_CONTAINERS}
    for key, taken in (*ours.items(), ("volumes", _MESH_VOLUMES)):
        for index, item in enumerate(spec.get(key, [])):
            if item.get("name") in taken:
                yield Problem(
                    f"spec.{key}[{index}].name",
                    "inject-name-collision",
                    f"no container or volume named {', '.join(_MESH_CONTAINERS + _MESH_VOLUMES)}"
                    " (the mesh adds them)",
                    repr(item.get("name")),
                    "rename it",
                )


def _probe_problems(spec: Json, settings: MeshSettings) -> Iterator[Problem]:
    probes, paths, unreadable = probe_rewriting.read_probes(spec)
    yield from unreadable
    yield from pod_probe_problems(probes, paths)
    reserved = settings.proxy.ports.reserved()
    for probe, path in zip(probes, paths, strict=True):
        if probe.port in reserved:
            yield Problem(
                path,
                "port-reserved",
                "a probe of the app's own port",
                f"port {probe.port}, one of the sidecar's",
                "restore the app's own probe (was this pod injected by hand or another tool?)",
            )


def _log_level(annotations: dict[str, str]) -> tuple[LogLevel | None, tuple[Problem, ...]]:
    """The pod's own sidecar log level (None: the mesh's), or the problem with its value."""
    key = names.PROXY_LOG_LEVEL_ANNOTATION
    if key not in annotations:
        return None, ()
    try:
        return LogLevel(annotations[key]), ()
    except ValueError:
        levels = ", ".join(level.value for level in LogLevel)
        fix = "use one of Envoy's log levels, or remove the annotation for the mesh's"
        return None, (
            Problem(key, "annotation-invalid", f"one of {levels}", repr(annotations[key]), fix),
        )


def _annotation_problems(problems: tuple[Problem, ...]) -> list[Problem]:
    """interception_for names the annotation as the path; place it in the template."""
    return [
        Problem(f"metadata.annotations[{p.path}]", p.code, p.expected, p.found, p.fix)
        for p in problems
    ]


def _classic_completion(path: str, found: str) -> Problem:
    return Problem(
        path,
        "inject-classic-run-to-completion",
        "a long-running pod in classic sidecar mode",
        found,
        "use the native sidecar mode (Kubernetes 1.29+), whose sidecar stops when the app "
        "exits; a classic sidecar keeps running and the pod never completes",
    )


def _unsupported_kind(path: str, kind: str) -> Problem:
    return Problem(
        f"{path}.kind",
        "inject-kind-unsupported",
        f"one of {', '.join(TEMPLATE_PATHS)}",
        repr(kind),
        "pass other objects through unchanged",
    )


# Helpers.


def _copied(value: Json) -> Json:
    """A deep copy that shares nothing: YAML anchors load as one dict in two places, which
    `copy.deepcopy` would keep shared (a label change would edit the selector too)."""
    copied: Json = json.loads(json.dumps(value))
    return copied


def opted_out(metadata: Json) -> bool:
    value = (metadata.get("annotations") or {}).get(names.INJECT_ANNOTATION, "")
    return str(value).strip().lower() == "false"


def _annotations(template: Json) -> dict[str, str]:
    return dict((template.get("metadata") or {}).get("annotations") or {})


def _dig(tree: Json, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree.setdefault(key, {})
    return tree


def _under(prefix: str, problems: tuple[Problem, ...] | list[Problem]) -> list[Problem]:
    return [Problem(f"{prefix}.{p.path}", p.code, p.expected, p.found, p.fix) for p in problems]
