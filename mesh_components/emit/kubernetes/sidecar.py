"""The sidecar container: Envoy on the workload's config and certificate volumes, as the proxy
UID, with named ports, readiness through the Prometheus listener, and the start-up and shutdown
order of its mode (see docs/sidecar.md).
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.model import LogLevel, MeshSettings, ProxySettings, Resources, SidecarMode

STARTUP_SECONDS = 120
"""How long the app may be held while Envoy starts (measured: ready 60-130 ms after start)."""

_PORT_NAMES = (
    ("mesh-metrics", "prometheus"),
    ("mesh-liveness", "liveness_probe"),
    ("mesh-readiness", "readiness_probe"),
    ("mesh-startup", "startup_probe"),
    ("mesh-health", "health_check"),
)
"""The sidecar ports the kubelet and Prometheus reach; admin, inbound and outbound stay
undeclared (admin binds 127.0.0.1, the other two are iptables targets)."""


def sidecar_container(settings: MeshSettings, log_level: LogLevel | None = None) -> Json:
    """The proxy container, as the Kubernetes API spells it, for the mesh's sidecar mode;
    `log_level` is the workload's own (None: the mesh's)."""
    proxy = settings.proxy
    container: Json = {
        "name": names.PROXY_CONTAINER,
        "image": proxy.image,
        "command": ["envoy"],
        "args": envoy_args(proxy, log_level),
        "ports": [
            {"name": name, "containerPort": getattr(proxy.ports, role), "protocol": "TCP"}
            for name, role in _PORT_NAMES
        ],
        "volumeMounts": _volume_mounts(),
        "securityContext": _security_context(proxy.uid),
        "readinessProbe": _readiness_probe(proxy, period=5, failures=3),
    }
    resources = _resources(proxy.resources)
    if resources:
        container["resources"] = resources
    if proxy.sidecar_mode is SidecarMode.NATIVE:
        return {**container, **_native(proxy)}
    return {**container, "lifecycle": _classic_lifecycle(proxy)}


def envoy_args(proxy: ProxySettings, log_level: LogLevel | None = None) -> list[str]:
    """Envoy's flags. `--drain-time-s` and `--drain-strategy immediate` govern both a listener
    replaced by a config update and the graceful drain before shutdown: every response then
    asks the client to reconnect, while new connections are still accepted until the drain
    time ends. No hot restart: config reloads come from the volumes instead. Access logs reach
    stdout within a second (`--file-flush-interval-msec`, Istio's value; Envoy's default is
    10 s)."""
    return [
        "-c", f"{names.CONFIG_DIR}/{names.BOOTSTRAP_FILE}",
        "--reject-unknown-dynamic-fields",
        "--concurrency", str(proxy.concurrency),
        "--log-level", (log_level or proxy.log_level).value,
        "--drain-time-s", str(proxy.drain_seconds),
        "--drain-strategy", "immediate",
        "--file-flush-interval-msec", "1000",
        "--disable-hot-restart",
    ]  # fmt: skip


def _volume_mounts() -> list[Json]:
    return [
        {"name": names.CONFIG_VOLUME, "mountPath": names.CONFIG_DIR, "readOnly": True},
        {"name": names.CERTS_VOLUME, "mountPath": names.CERTS_DIR, "readOnly": True},
    ]


def _security_context(uid: int) -> Json:
    """The proxy UID, which the iptables rules exempt; nothing else is needed to proxy."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _readiness_probe(proxy: ProxySettings, *, period: int, failures: int) -> Json:
    """Envoy's own /ready (503 while starting or draining), served on the Prometheus listener
    because the admin interface binds 127.0.0.1, out of the kubelet's reach."""
    action = {"path": names.PROXY_READY_PATH, "port": proxy.ports.prometheus, "scheme": "HTTP"}
    return {
        "httpGet": action,
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 1,
    }


def _resources(resources: Resources) -> Json:
    requests = {"cpu": resources.cpu_request, "memory": resources.memory_request}
    limits = {"cpu": resources.cpu_limit, "memory": resources.memory_limit}
    found = {
        "requests": {key: value for key, value in requests.items() if value},
        "limits": {key: value for key, value in limits.items() if value},
    }
    return {key: value for key, value in found.items() if value}


def _native(proxy: ProxySettings) -> Json:
    """An init container that keeps running: the kubelet starts the next container only once
    its startup probe passes, and stops it only after every app container has exited, so
    Jobs complete and no extra drain is needed."""
    startup = _readiness_probe(proxy, period=1, failures=STARTUP_SECONDS)
    return {"restartPolicy": "Always", "startupProbe": startup}


def _classic_lifecycle(proxy: ProxySettings) -> Json:
    """A regular container, placed first. postStart blocks the kubelet from starting the next
    container until Envoy is ready; preStop drains the inbound listeners and keeps Envoy up
    for the drain time, because Envoy exits at once on SIGTERM (measured: 14 ms, in-flight
    requests reset). Both talk to the local admin interface with bash's /dev/tcp: the Envoy
    image has bash but no curl."""
    return {
        "postStart": {"exec": {"command": ["/bin/bash", "-c", hold_script(proxy)]}},
        "preStop": {"exec": {"command": ["/bin/bash", "-c", drain_script(proxy)]}},
    }


def _admin(proxy: ProxySettings, method: str, path: str) -> str:
    """Bash that sends one request to the admin interface and reads its status line."""
    request = f"{method} {path} HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Length: 0\\r\\n"
    return (
        f"exec 3<>/dev/tcp/127.0.0.1/{proxy.ports.admin} && "
        f"printf '{request}Connection: close\\r\\n\\r\\n' >&3 && read -r -t 1 status <&3"
    )


def hold_script(proxy: ProxySettings) -> str:
    """Wait (at most STARTUP_SECONDS) until Envoy's /ready answers 200."""
    ready = _admin(proxy, "GET", names.PROXY_READY_PATH)
    tries = STARTUP_SECONDS * 10
    return (
        f'i=0; until ({ready} && [[ $status == *" 200 "* ]]) 2>/dev/null; '
        f"do ((++i < {tries})) || exit 1; sleep 0.1; done"
    )


def drain_script(proxy: ProxySettings) -> str:
    """Start the graceful drain of the inbound listeners (outbound stays open for the app's
    last calls), then keep Envoy running until the drain time is over."""
    drain = _admin(proxy, "POST", "/drain_listeners?graceful&inboundonly")
    return f"({drain}) 2>/dev/null; sleep {proxy.drain_seconds}"
