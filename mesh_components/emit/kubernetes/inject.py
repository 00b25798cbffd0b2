"""Injection: a pod template (or a workload manifest) in, the same template with the mesh out.

The mesh adds its init container, the sidecar, two volumes, the probe rewrites and its
annotations, and points the pod's Prometheus annotations at the sidecar (model/metrics.py).
Injecting again first takes the previous injection out, so twice equals once.
Order and permissions are explained in docs/sidecar.md ("Injection").
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeGuard

from mesh_components import names
from mesh_components.emit.envoy.routes import probe_target
from mesh_components.emit.kubernetes import markers
from mesh_components.emit.kubernetes import probes as probe_rewriting
from mesh_components.emit.kubernetes.init_container import init_container
from mesh_components.emit.kubernetes.iptables import interception_for
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.emit.kubernetes.sidecar import sidecar_container
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model import LogLevel, MeshSettings, Probe, Scraping, SidecarMode
from mesh_components.model import metrics as app_metrics
from mesh_components.validate.metrics import annotation_problems as metrics_problems
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
_MESH_ANNOTATIONS = (
    names.CONFIG_HASH_ANNOTATION,
    names.ORIGINAL_PROBES_ANNOTATION,
    names.APP_METRICS_ANNOTATION,
)
_RUN_TO_COMPLETION = ("Never", "OnFailure")
_SCRAPE_KEYS = (app_metrics.SCRAPE, app_metrics.PORT, app_metrics.PATH)
"""The annotations that point Prometheus at the sidecar."""


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
    kind = str(copy.get("kind"))
    _refuse(_under(kind, metadata_problems(copy.get("metadata"), "metadata")))
    meta = copy.get("metadata") or {}
    at = f"{kind}[{meta.get('namespace', 'default')}/{meta.get('name', '')}]"
    if kind not in TEMPLATE_PATHS:
        raise MeshValidationError([_unsupported_kind(at, kind)])
    _refuse(_under(at, template_path_problems(copy, TEMPLATE_PATHS[kind])))
    if opted_out(meta):
        return copy
    if kind in ("Job", "CronJob") and settings.proxy.sidecar_mode is SidecarMode.CLASSIC:
        raise MeshValidationError([_classic_completion(at, f"a {kind}")])
    path = TEMPLATE_PATHS[kind]
    template = _dig(copy, path) if path else {"metadata": meta, "spec": copy.get("spec")}
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
    networking, a name of ours taken, classic mode on a pod that must
    complete, probes the sidecar cannot answer, or bad interception annotations.
    """
    copy = _copied(template)
    _refuse(metadata_problems(copy.get("metadata"), "metadata"))
    if opted_out(copy.get("metadata") or {}):
        return copy
    _refuse(template_problems(copy))
    base = uninjected(copy)
    _refuse(template_problems(base))  # the probes an earlier injection recorded, restored
    spec, annotations = base["spec"], _annotations(base)
    problems = list(_problems(spec, settings))
    try:
        interception = interception_for(settings, annotations)
    except MeshValidationError as error:
        problems += _annotation_problems(error.problems)
    log_level, level_problems = _log_level(annotations)
    problems += _annotation_problems(level_problems)
    problems += _annotation_problems(tuple(metrics_problems(annotations, settings.proxy.ports)))
    if problems:
        raise MeshValidationError(problems)
    probes = probe_rewriting.probes_of(spec)
    probe_ports = tuple(sorted({probe_target(p, settings.proxy.ports).port for p in probes}))
    init = init_container(settings, interception, probe_ports)
    new_spec = _mesh_spec(spec, settings, binding, init, log_level)
    annotations |= _mesh_annotations(spec, new_spec, probes, binding)
    annotations = _scraped(annotations, settings)
    metadata = {**(base.get("metadata") or {}), "annotations": annotations}
    return {**base, "metadata": metadata, "spec": new_spec}


def uninjected(template: Json) -> Json:
    """A copy of `template` without a previous injection: our containers, volumes and
    annotations removed, and the app's own probes and Prometheus annotations restored (probes
    still as we rewrote them; a probe changed since is the user's). A template never injected
    is returned as it is."""
    copy = _copied(template)
    annotations = _annotations(copy)
    if names.CONFIG_HASH_ANNOTATION not in annotations:
        return copy
    spec = copy.setdefault("spec", {})
    for key in ("initContainers", "containers"):
        spec[key] = [c for c in spec.get(key) or [] if c.get("name") not in _MESH_CONTAINERS]
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") not in _MESH_VOLUMES]
    _restore_probes(spec, _original_probes(annotations) or {})
    scraped = annotations.get(app_metrics.PATH) == names.PROMETHEUS_PATH
    ours = _SCRAPE_KEYS if scraped else ()
    kept = {k: v for k, v in annotations.items() if k not in (*_MESH_ANNOTATIONS, *ours)}
    kept |= _original_scraping(annotations) or {}
    copy["metadata"] = {**(copy.get("metadata") or {}), "annotations": kept}
    return copy


def _restore_probes(spec: Json, records: dict[str, dict[str, list[Json]]]) -> None:
    for container in spec.get("containers") or []:
        for field, (original, rewritten) in records.get(container.get("name"), {}).items():
            if container.get(field) == rewritten:
                container[field] = original


def _original_probes(annotations: dict[str, str]) -> dict[str, dict[str, list[Json]]] | None:
    """The probes an earlier injection rewrote, by container and field, each as written and
    as rewritten; None when the annotation is not what injection writes."""
    try:
        records = json.loads(annotations.get(names.ORIGINAL_PROBES_ANNOTATION, "{}"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(records, dict) or not all(map(_is_probe_record, records.values())):
        return None
    return records


def _original_scraping(annotations: dict[str, str]) -> dict[str, str] | None:
    """The pod's own Prometheus annotations that an earlier injection replaced ({} when it
    replaced none); None when the record is not what injection writes."""
    try:
        record = json.loads(annotations.get(names.APP_METRICS_ANNOTATION, "{}"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    keys_known = all(key in app_metrics.KEYS for key in record)
    return record if keys_known and all(isinstance(v, str) for v in record.values()) else None


def _is_probe_record(record: object) -> bool:
    return isinstance(record, dict) and all(
        field in _PROBE_FIELD_NAMES
        and isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], dict)
        for field, pair in record.items()
    )


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
    user_init = spec.get("initContainers") or []
    if settings.proxy.sidecar_mode is SidecarMode.NATIVE:
        new_spec["initContainers"] = [init, proxy, *user_init]
    else:
        new_spec["initContainers"] = [init, *user_init]
        new_spec["containers"] = [proxy, *(new_spec.get("containers") or [])]
    new_spec["volumes"] = [*(spec.get("volumes") or []), *_volumes(binding)]
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
    before = {c["name"]: c for c in spec.get("containers") or []}
    after = {c["name"]: c for c in new_spec.get("containers") or []}
    for probe in probes:
        field = probe_rewriting.PROBE_FIELDS[probe.kind]
        pair = [before[probe.container][field], after[probe.container][field]]
        records.setdefault(probe.container, {})[field] = pair
    if records:
        text = json.dumps(records, sort_keys=True, separators=(",", ":"))
        found[names.ORIGINAL_PROBES_ANNOTATION] = text
    return found


def _scraped(annotations: dict[str, str], settings: MeshSettings) -> dict[str, str]:
    """`annotations` with Prometheus' conventional ones pointing at the sidecar's stats
    listener, which also serves the app's metrics when the pod declares them (merging).
    Left as written when the pod asks for no scraping, or for metrics that cannot be merged
    (HTTPS). The pod's own that are replaced are recorded, for `uninjected` to restore."""
    if app_metrics.scrape_decision(annotations).scraping is Scraping.AS_WRITTEN:
        return annotations
    replaced = {key: annotations[key] for key in app_metrics.KEYS if key in annotations}
    kept = {key: value for key, value in annotations.items() if key not in replaced}
    port = str(settings.proxy.ports.prometheus)
    ours = {
        app_metrics.SCRAPE: "true",
        app_metrics.PORT: port,
        app_metrics.PATH: names.PROMETHEUS_PATH,
    }
    if replaced:
        text = json.dumps(replaced, sort_keys=True, separators=(",", ":"))
        ours[names.APP_METRICS_ANNOTATION] = text
    return {**kept, **ours}


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
    yield from _collisions(spec)
    restart = spec.get("restartPolicy", "Always")
    if settings.proxy.sidecar_mode is SidecarMode.CLASSIC and restart in _RUN_TO_COMPLETION:
        yield _classic_completion("spec.restartPolicy", f"restartPolicy {restart}")
    yield from _probe_problems(spec, settings)


def _collisions(spec: Json) -> Iterator[Problem]:
    ours = {"initContainers": _MESH_CONTAINERS, "containers": _MESH_CONTAINERS}
    for key, taken in (*ours.items(), ("volumes", _MESH_VOLUMES)):
        for index, item in enumerate(spec.get(key) or []):
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


# Shapes: every field injection reads, checked before it is read, so that a manifest of the
# wrong shape is a problem naming the field rather than a traceback. Paths are relative to
# what is checked; `null` is taken as absent wherever Kubernetes takes it so.

SHAPE = "manifest-invalid"
_PROBE_FIELD_NAMES = tuple(probe_rewriting.PROBE_FIELDS.values())
_PORT_RULE = "a port number, or the name of one of the container's ports"
_PROBE_NUMBERS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")
_PROBE_ACTIONS = ("httpGet", "tcpSocket", "grpc")
_POD_SCALARS: tuple[tuple[str, type, str], ...] = (
    ("serviceAccountName", str, "a ServiceAccount name"),
    ("serviceAccount", str, "a ServiceAccount name (deprecated: use serviceAccountName)"),
    ("restartPolicy", str, "Always, OnFailure or Never"),
    ("hostNetwork", bool, "true or false"),
)


def metadata_problems(metadata: object, path: str) -> list[Problem]:
    """Object metadata as the API server decodes it: a mapping whose name and namespace are
    strings, and whose labels and annotations map strings to strings."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [_shape(path, "a mapping (name, labels, annotations)", metadata)]
    problems = [
        _shape(f"{path}.{key}", "a string", metadata[key], f"write {key} as a string")
        for key in ("name", "namespace")
        if key in metadata and not isinstance(metadata[key], str)
    ]
    for key in ("labels", "annotations"):
        problems += _string_map_problems(metadata.get(key), f"{path}.{key}")
    return problems


def template_path_problems(manifest: Json, path: tuple[str, ...]) -> list[Problem]:
    """Each field on the way to a workload's pod template (`spec`, `template`, ...) is a
    mapping, or absent (then so is the template, whose missing spec is its problem)."""
    node: object = manifest
    for depth, key in enumerate(path):
        node = node.get(key) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, dict):
            return [_shape(".".join(path[: depth + 1]), "a mapping", node)]
    return []


def template_problems(template: Json) -> list[Problem]:
    """The problems of a pod template (`metadata` and `spec`) that injection would trip on."""
    problems = metadata_problems(template.get("metadata"), "metadata")
    spec = template.get("spec")
    if not isinstance(spec, dict):
        fix = "give the pod template a `spec` with its containers"
        return [*problems, _shape("spec", "a pod spec mapping", spec, fix)]
    problems += pod_spec_problems(spec, "spec")
    if problems or names.CONFIG_HASH_ANNOTATION not in _annotations(template):
        return problems
    return _record_problems(_annotations(template))


def pod_spec_problems(spec: Json, path: str) -> list[Problem]:
    """The fields of a pod spec that injection reads: its containers, ports, probes, volumes,
    ServiceAccount, restart policy and host networking. A value that is not plain data yet (a
    Pulumi Output, where the mesh reads nothing before injecting) is checked once resolved."""
    problems = [
        _shape(f"{path}.{key}", expected, spec[key])
        for key, kind, expected in _POD_SCALARS
        if _plain(spec.get(key)) and not isinstance(spec[key], kind)
    ]
    if _plain(spec.get("volumes")) and not _mappings(spec["volumes"]):
        problems.append(_shape(f"{path}.volumes", "a list of volumes", spec["volumes"]))
    for key in ("containers", "initContainers"):
        containers = spec.get(key)
        if key == "initContainers" and not _plain(containers):
            continue
        if not _mappings(containers):
            fix = "list the containers as mappings"
            problems.append(_shape(f"{path}.{key}", "a list of containers", containers, fix))
            continue
        for index, container in enumerate(containers):
            problems += _container_problems(container, f"{path}.{key}[{index}]")
    return problems


def _container_problems(container: Json, path: str) -> list[Problem]:
    problems = []
    if not isinstance(container.get("name"), str):
        fix = "give every container a name"
        problems.append(_shape(f"{path}.name", "a container name", container.get("name"), fix))
    ports = container.get("ports")
    if ports is not None and not _mappings(ports):
        problems.append(_shape(f"{path}.ports", "a list of ports", ports))
    for index, port in enumerate(ports if _mappings(ports) else []):
        problems += _port_problems(port, f"{path}.ports[{index}]")
    for field in _PROBE_FIELD_NAMES:
        problems += _probe_shape(container, field, f"{path}.{field}")
    return problems


def _port_problems(port: Json, path: str) -> list[Problem]:
    number, name = port.get("containerPort"), port.get("name")
    problems = []
    if not isinstance(number, int) or isinstance(number, bool):
        problems.append(_shape(f"{path}.containerPort", "a port number", number))
    if name is not None and not isinstance(name, str):
        problems.append(_shape(f"{path}.name", "a port name", name))
    return problems


def _probe_shape(container: Json, field: str, path: str) -> list[Problem]:
    probe = container.get(field)
    if probe is None:
        return []
    if not isinstance(probe, dict):
        return [_shape(path, "a probe (a mapping)", probe)]
    problems = [
        _shape(f"{path}.{key}", "an integer", probe[key], "write a whole number")
        for key in _PROBE_NUMBERS
        if key in probe and (not isinstance(probe[key], int) or isinstance(probe[key], bool))
    ]
    for action in (a for a in _PROBE_ACTIONS if a in probe):
        problems += _action_problems(probe[action], f"{path}.{action}", container)
    return problems


def _action_problems(action: object, path: str, container: Json) -> list[Problem]:
    if not isinstance(action, dict):
        return [_shape(path, "a mapping with the port to probe", action)]
    problems = [
        _shape(f"{path}.{key}", "a string", action[key])
        for key in ("path", "scheme")
        if key in action and not isinstance(action[key], str)
    ]
    port = action.get("port")
    if not isinstance(port, int | str) or isinstance(port, bool):
        problems.append(_shape(f"{path}.port", _PORT_RULE, port))
    elif isinstance(port, str) and not isinstance(container.get("ports"), list):
        fix = "use the port's number, or list it under the container's ports"
        problems.append(Problem(f"{path}.port", "probe-port-unknown", _PORT_RULE, repr(port), fix))
    return problems


def _record_problems(annotations: dict[str, str]) -> list[Problem]:
    """An injected template's records of the probes it rewrote and of the Prometheus
    annotations it replaced, which `uninjected` restores."""
    scraping = "the pod's prometheus.io annotations"
    records = (
        (names.ORIGINAL_PROBES_ANNOTATION, _original_probes(annotations), "the probes"),
        (names.APP_METRICS_ANNOTATION, _original_scraping(annotations), scraping),
    )
    return [_bad_record(key, what) for key, found, what in records if found is None]


def _bad_record(key: str, what: str) -> Problem:
    fix = (
        "inject the manifest as it was before injection, or remove this annotation and the "
        f"{names.CONFIG_HASH_ANNOTATION} annotation and restore {what} by hand"
    )
    expected = "the JSON an earlier injection wrote"
    return Problem(f"metadata.annotations[{key}]", SHAPE, expected, "other text", fix)


def _string_map_problems(value: object, path: str) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [_shape(path, "a mapping of strings to strings", value)]
    fix = "quote it: Kubernetes takes only strings here"
    return [
        _shape(f"{path}[{key}]", "a string", item, fix)
        for key, item in value.items()
        if not isinstance(key, str) or not isinstance(item, str)
    ]


def _plain(value: object) -> bool:
    """Data as YAML or JSON give it, and not null."""
    return isinstance(value, dict | list | str | int | float)


def _mappings(value: object) -> TypeGuard[list[Json]]:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _shape(path: str, expected: str, found: object, fix: str = "") -> Problem:
    return Problem(path, SHAPE, expected, described(found), fix or f"write {expected} there")


def described(value: object) -> str:
    """A value as a problem's `found`: what it is, and the value when it is a short scalar."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    kinds = {int: "the integer", float: "the number", str: "the string"}
    return f"{kinds.get(type(value), type(value).__name__)} {reprlib.repr(value)}"


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise MeshValidationError(problems)


# YAML as kubectl sends it: kubectl reads a manifest's YAML as JSON, so what YAML alone has (a
# timestamp, `!!binary`, a key that is not a string) arrives at the API server as JSON text.


def as_json(document: object) -> tuple[Any, list[Problem]]:
    """`document` as kubectl would send it: a timestamp as its RFC 3339 text, `!!binary` as
    its text, a key as its JSON text (`1`, `true`). With a problem, at a path relative to the
    document, for each value JSON cannot hold (NaN, infinity, a null key), which kubectl
    refuses to send."""
    problems: list[Problem] = []
    return _json_value(document, "", problems), problems


def _json_value(value: object, path: str, problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        found: Json = {}
        for key, item in value.items():
            text = key if isinstance(key, str) else _json_text(key)
            if text is None:
                problems.append(_unsendable(path, "keys JSON can hold", described(key)))
            elif text in found:
                found_ = f"the key {text!r} twice, once its YAML value is read as text"
                problems.append(_unsendable(_child(path, text), "each key once", found_))
            else:
                found[text] = _json_value(item, _child(path, text), problems)
        return found
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if value is None or (isinstance(value, str | int | float) and not _infinite(value)):
        return value
    text = None if isinstance(value, float) else _json_text(value)
    if text is None:
        problems.append(_unsendable(path, "a value JSON can hold", described(value)))
    return value if text is None else text


def _json_text(value: object) -> str | None:
    """A scalar as JSON text: a key (JSON keys are strings), or what YAML alone has."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float) and not _infinite(value):
        return json.dumps(value)
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")  # as Go writes invalid UTF-8 into JSON
    return None


def _rfc3339(moment: datetime) -> str:
    """A timestamp as Kubernetes writes one: `2020-01-01T10:00:00Z`, `...T10:00:00.5+02:00`."""
    text = moment.replace(tzinfo=None).isoformat()
    text = text.rstrip("0") if "." in text else text
    offset = moment.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return f"{text}Z"
    minutes = int(offset.total_seconds()) // 60
    sign, minutes = "+" if minutes >= 0 else "-", abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _infinite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _child(path: str, key: str) -> str:
    if "." in key or "/" in key:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _unsendable(path: str, expected: str, found: str) -> Problem:
    fix = "kubectl sends manifests as JSON, which has no such value: write a finite number or text"
    return Problem(path, SHAPE, expected, found, fix)


# Helpers.


def _copied(value: Json) -> Json:
    """A deep copy that shares nothing: YAML anchors load as one dict in two places, which
    `copy.deepcopy` would keep shared (a label change would edit the selector too)."""
    copied: Json = json.loads(json.dumps(value))
    return copied


def opted_out(metadata: Json) -> bool:
    """The mesh's own opt-out annotation, or another mesh's marker that kept the pod out of
    that mesh (markers.py): a manifest written for OSM, Istio or Linkerd stays out here too."""
    value = (metadata.get("annotations") or {}).get(names.INJECT_ANNOTATION, "")
    return str(value).strip().lower() == "false" or markers.opted_out_elsewhere(metadata)


def _annotations(template: Json) -> dict[str, str]:
    return dict((template.get("metadata") or {}).get("annotations") or {})


def _dig(tree: Json, path: tuple[str, ...]) -> Any:
    for key in path:
        if tree.get(key) is None:
            tree[key] = {}
        tree = tree[key]
    return tree


def _under(prefix: str, problems: tuple[Problem, ...] | list[Problem]) -> list[Problem]:
    return [Problem(f"{prefix}.{p.path}", p.code, p.expected, p.found, p.fix) for p in problems]
