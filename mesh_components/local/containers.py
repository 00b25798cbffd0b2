"""How each container of a pod runs here, as a launch spec for `launcher`.

    init container           its own command and args, with the host's tools
    Envoy (by command/image) the real Envoy binary with the container's args
    any other container      the built-in stub app, serving every containerPort

Each runs as its securityContext's UID and GID (a stub app with none runs as APP_UID, a
non-proxy UID, so its traffic is intercepted), with its volumes, the pod's resolv.conf,
hosts, hostname and /dev/shm. /tmp stays the host's: the Envoy wheel may live there.
"""

from __future__ import annotations

import base64
import enum
import functools
import importlib.util
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.local.manifests import Manifests
from mesh_components.local.volumes import PodFacts, field_value

APP_UID = 1000
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Runs(enum.Enum):
    EXACT = "exact"
    ENVOY = "envoy"
    STUB = "stub"


@dataclass(frozen=True, slots=True)
class PodContext:
    """Per-pod facts every container's spec needs."""

    facts: PodFacts
    ip: str
    hostname: str
    netns: str
    directory: Path
    volumes: dict[str, Path]
    pod_spec: Json
    objects: Manifests
    envoy: Path
    stub: Path
    workload: str
    service_ports: dict[int, str] = field(default_factory=dict)  # target port -> tcp|http|grpc


def runs_as(container: Json, init: bool) -> Runs:
    command = [*container.get("command", [])]
    if command and os.path.basename(command[0]) == "envoy":
        return Runs.ENVOY
    image = str(container.get("image", "")).split("@")[0].rsplit(":", 1)[0]
    if not command and image.endswith("envoyproxy/envoy"):
        return Runs.ENVOY
    if init and container.get("restartPolicy") != "Always":
        return Runs.EXACT
    return Runs.STUB


def launch_argv(pod: PodContext, spec_file: Path) -> list[str]:
    """The host command that starts a container from its spec file."""
    return [
        "nsenter", f"--net=/run/netns/{pod.netns}", "--",
        "unshare", "--mount", "--uts", "--propagation", "private", "--",
        sys.executable, "-I", str(Path(__file__).with_name("launcher.py")), str(spec_file),
    ]  # fmt: skip


def launch_spec(pod: PodContext, container: Json, init: bool, where: str) -> dict[str, Any]:
    """Everything `launcher` needs for one container."""
    runs = runs_as(container, init)
    mounts = _mounts(pod, container, where)
    unplaceable = [m["target"] for m in mounts if _needs_new_top_directory(m["target"])]
    if unplaceable and runs is not Runs.STUB:
        fix = "mount it under a directory that exists on this host (e.g. /var, /etc, /opt)"
        expected = "a mountPath whose top directory exists on the host"
        problem = Problem(f"{where}.volumeMounts", "local-mount-path-unsupported", expected,
                          ", ".join(unplaceable), fix)  # fmt: skip
        raise MeshValidationError([problem])
    # The stub app reads no volume, so a mount it cannot get changes nothing it does. Nor does
    # Envoy or the init script read one outside /etc/mesh: a mount whose overlay would cover
    # the runner's own state (the API server's token volume at /var/run/secrets, /var/run
    # being /run here) is left out for every container.
    unplaceable += [m["target"] for m in mounts if _hides_runner_state(m["target"], pod.directory)]
    mounts = [m for m in mounts if m["target"] not in unplaceable]
    return {
        "hostname": pod.hostname,
        "overlays": _overlays(pod, container["name"], [m["target"] for m in mounts]),
        "mounts": mounts,
        "skipped": unplaceable,
        "env": environment(pod, container, where),
        "cwd": container.get("workingDir") or "/",
        "user": _user(pod.pod_spec, container, runs),
        "argv": _argv(pod, container, runs, where),
        "runs": runs.value,
    }


def _argv(pod: PodContext, container: Json, runs: Runs, where: str) -> list[str]:
    command, args = list(container.get("command", [])), list(container.get("args", []))
    if runs is Runs.ENVOY:
        return [str(pod.envoy), *command[1:], *args]
    if runs is Runs.STUB:
        config = {
            "pod": pod.facts.name, "namespace": pod.facts.namespace, "workload": pod.workload,
            "container": container["name"], "labels": pod.facts.labels,
            "ports": [[p, pod.service_ports.get(p, "http")] for p in _stub_ports(pod, container)],
        }  # fmt: skip
        python = python_for_everyone()
        if any(kind == "grpc" for _, kind in config["ports"]):
            config["grpc_path"], python = grpc_import_path(), python_for_grpc()
        return [python, "-I", str(pod.stub), json.dumps(config)]
    if not command:
        fix = "give the init container an explicit command (image entrypoints are unknown here)"
        problem = Problem(f"{where}.command", "local-command-missing", "a command", "none", fix)
        raise MeshValidationError([problem])
    return [*command, *args]


def _stub_ports(pod: PodContext, container: Json) -> list[int]:
    """The container's declared ports; the pod's first container also serves the Services'
    target ports that no container declares (Kubernetes does not require declaring them)."""
    ports = {int(p["containerPort"]) for p in container.get("ports", [])}
    regular = pod.pod_spec.get("containers", [])
    if regular and regular[0].get("name") == container["name"]:
        every = pod.pod_spec.get("initContainers", []) + regular
        declared = {int(p["containerPort"]) for c in every for p in c.get("ports", [])}
        ports |= set(pod.service_ports) - declared
    return sorted(ports)


def _user(pod_spec: Json, container: Json, runs: Runs) -> dict[str, Any]:
    pod_context = pod_spec.get("securityContext") or {}
    context = container.get("securityContext") or {}
    default = APP_UID if runs is Runs.STUB else 0
    uid = int(context.get("runAsUser", pod_context.get("runAsUser", default)))
    gid = int(context.get("runAsGroup", pod_context.get("runAsGroup", uid)))
    groups = [*pod_context.get("supplementalGroups", [])]
    if "fsGroup" in pod_context:
        groups.append(pod_context["fsGroup"])
    capabilities = context.get("capabilities") or {}
    dropped = [c.upper() for c in capabilities.get("drop", [])]
    caps = [c.lower() for c in capabilities.get("add", [])] if "ALL" in dropped else None
    no_new_privs = context.get("allowPrivilegeEscalation") is False
    return {"uid": uid, "gid": gid, "groups": groups, "caps": caps, "no_new_privs": no_new_privs}


def _mounts(pod: PodContext, container: Json, where: str) -> list[dict[str, Any]]:
    shared = pod.directory / "etc"
    mounts = [
        {"source": str(shared / "resolv.conf"), "target": "/etc/resolv.conf", "readonly": True},
        {"source": str(shared / "hosts"), "target": "/etc/hosts", "readonly": True},
        {"source": str(shared / "hostname"), "target": "/etc/hostname", "readonly": True},
        {"source": str(pod.directory / "shm"), "target": "/dev/shm", "readonly": False},
    ]
    for number, mount in enumerate(container.get("volumeMounts", [])):
        source = pod.volumes.get(mount["name"])
        if source is None:
            at = f"{where}.volumeMounts[{number}].name"
            fix = "declare the volume in the pod's spec.volumes"
            raise MeshValidationError(
                [Problem(at, "local-volume-unknown", "a pod volume", mount["name"], fix)]
            )
        if mount.get("subPath"):
            source = (source / mount["subPath"]).resolve()
        mounts.append(
            {
                "source": str(source),
                "target": mount["mountPath"],
                "readonly": bool(mount.get("readOnly", False)),
            }
        )
    return sorted(mounts, key=lambda m: m["target"].count("/"))


def _overlays(pod: PodContext, container: str, targets: list[str]) -> list[dict[str, str]]:
    """One read-only overlay per ancestor that lacks mount points, adding them from a skeleton."""
    skeletons: dict[str, Path] = {}
    for target in targets:
        if os.path.lexists(target):
            continue
        ancestor = _existing_ancestor(target)
        skeleton = skeletons.setdefault(
            ancestor, pod.directory / "skeleton" / container / str(len(skeletons))
        )
        (skeleton / os.path.relpath(target, ancestor)).mkdir(parents=True, exist_ok=True)
    return [{"target": a, "skeleton": str(s)} for a, s in sorted(skeletons.items())]


def _needs_new_top_directory(target: str) -> bool:
    """A mount point that only an overlay on / could add (which would hide every host mount)."""
    return not os.path.lexists(target) and _existing_ancestor(target) == "/"


def _hides_runner_state(target: str, pod_directory: Path) -> bool:
    """Whether the overlay that adds `target` would lie over the pod's own files."""
    if os.path.lexists(target):
        return False
    ancestor = os.path.realpath(_existing_ancestor(target))
    return os.path.realpath(pod_directory).startswith(ancestor.rstrip("/") + "/")


def _existing_ancestor(path: str) -> str:
    current = os.path.dirname(path.rstrip("/"))
    while not os.path.isdir(current):
        current = os.path.dirname(current)
    return current


def environment(pod: PodContext, container: Json, where: str) -> dict[str, str]:
    """The container's environment, as the kubelet builds it (Service variables aside)."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": pod.hostname}
    for source in container.get("envFrom", []):
        env.update(_env_from(pod, source))
    for number, item in enumerate(container.get("env", [])):
        if "value" in item or "valueFrom" not in item:
            env[item["name"]] = str(item.get("value", ""))
        else:
            env[item["name"]] = _value_from(pod, item["valueFrom"], f"{where}.env[{number}]")
    return env


def _env_from(pod: PodContext, source: Json) -> dict[str, str]:
    prefix = source.get("prefix", "")
    if "configMapRef" in source:
        found = pod.objects.get("ConfigMap", pod.facts.namespace, source["configMapRef"]["name"])
        data = {k: str(v) for k, v in ((found or {}).get("data") or {}).items()}
    else:
        found = pod.objects.get("Secret", pod.facts.namespace, source["secretRef"]["name"])
        data = _secret_strings(found)
    return {f"{prefix}{k}": v for k, v in data.items()}


def _secret_strings(secret: Json | None) -> dict[str, str]:
    data = (secret or {}).get("data") or {}
    out = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    out.update({k: str(v) for k, v in ((secret or {}).get("stringData") or {}).items()})
    return out


def _value_from(pod: PodContext, source: Json, where: str) -> str:
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        extra = {"status.podIP": pod.ip, "status.podIPs": pod.ip, "status.hostIP": "10.244.0.1"}
        return extra.get(path) or field_value(path, pod.facts)
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        if key in source:
            ref = source[key]
            found = pod.objects.get(kind, pod.facts.namespace, ref["name"])
            data = _secret_strings(found) if kind == "Secret" else (found or {}).get("data") or {}
            if ref["key"] in data:
                return str(data[ref["key"]])
            if ref.get("optional"):
                return ""
            fix = f"add key {ref['key']!r} to {kind} {pod.facts.namespace}/{ref['name']}"
            raise MeshValidationError(
                [
                    Problem(
                        where, "local-env-source-missing", f"{kind} key {ref['key']}", "none", fix
                    )
                ]
            )
    return ""


def python_for_everyone() -> str:
    """A Python interpreter any UID may run (a venv's may sit under an unreadable home)."""
    for candidate in ("/usr/bin/python3", os.path.realpath(sys.executable)):
        if world_runnable(Path(candidate)):
            return candidate
    raise MeshValidationError(
        [
            Problem(
                "python",
                "local-python-missing",
                "a Python 3 that any user may run",
                "none",
                "apt-get install -y python3",
            )
        ]
    )


def python_for_grpc() -> str:
    """The Python the stub app's gRPC ports and `grpc://` requests run under: one of this
    Python's version, for which grpcio's compiled module is built, that any UID may run (this
    one, or the system's of the same version when this one sits under a private home)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [os.path.realpath(sys.executable)]
    candidates += [f"{where}/python{version}" for where in ("/usr/bin", "/usr/local/bin")]
    for candidate in candidates:
        if world_runnable(Path(candidate)):
            return candidate
    fix = f"apt-get install -y python{version}, or make the venv from a Python any user may run"
    expected = f"a Python {version} (grpcio is compiled for it) that any UID may run"
    found = ", ".join(candidates)
    raise MeshValidationError([Problem("python", "local-grpc-python", expected, found, fix)])


@functools.cache
def grpc_import_path() -> list[str]:
    """The directories that hold grpcio (and the one package it imports), for the stub app and
    the traffic client to add to sys.path: they run as app UIDs under `python_for_grpc`, in
    isolated mode. Raises when grpcio is missing or those UIDs cannot read it (a raise is not
    cached: installing grpcio is seen at the next call)."""
    found: list[str] = []
    for name in ("grpc", "typing_extensions"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            fix = "pip install grpcio (the local runner's gRPC ports and client need it)"
            problem = Problem("grpc", "local-grpc-missing", f"the {name} package", "none", fix)
            raise MeshValidationError([problem])
        origin = Path(spec.origin)
        root = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        if not world_readable(root):
            fix = "install grpcio where every user may read it (not under a private home)"
            problem = Problem("grpc", "local-grpc-unreadable", "a directory any UID reads",
                              str(root), fix)  # fmt: skip
            raise MeshValidationError([problem])
        found.append(str(root))
    return list(dict.fromkeys(found))


def world_readable(directory: Path) -> bool:
    """Whether any UID may list `directory` and pass through it and every directory above it."""
    real = directory.resolve()
    return bool(real.stat().st_mode & stat.S_IROTH) and _world_passes(real, *real.parents)


def world_runnable(path: Path) -> bool:
    """Whether any UID may execute `path` (it and every directory above it)."""
    if not path.is_file() or not path.stat().st_mode & stat.S_IXOTH:
        return False
    real = path.resolve()
    return _world_passes(real, *real.parents)


def _world_passes(*paths: Path) -> bool:
    """Whether every one of `paths` has the execute bit for others (search, for a directory)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in paths)
