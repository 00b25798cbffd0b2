"""The workloads a spec declares, as plain Kubernetes manifests before injection.

One app container per workload, with its image, command, args, ports and probes. `inject`
adds the mesh; this module only writes what the user declared.
"""

from __future__ import annotations

from mesh_components import names
from mesh_components.emit.kubernetes.metadata import Json, mesh_labels, metadata
from mesh_components.model import (
    Probe,
    ProbeAction,
    Service,
    Workload,
    WorkloadKind,
)

_API_VERSIONS = {
    WorkloadKind.DEPLOYMENT: "apps/v1",
    WorkloadKind.STATEFUL_SET: "apps/v1",
    WorkloadKind.DAEMON_SET: "apps/v1",
    WorkloadKind.REPLICA_SET: "apps/v1",
    WorkloadKind.JOB: "batch/v1",
    WorkloadKind.CRON_JOB: "batch/v1",
    WorkloadKind.POD: "v1",
}


def workload_labels(workload: Workload, mesh: str) -> dict[str, str]:
    """The workload object's labels: the user's, plus the mesh's (never in the selector)."""
    standard = mesh_labels(mesh, "workload", workload.name)
    return {**standard, **dict(workload.labels)}


def workload_manifest(workload: Workload, governing: Service | None, mesh: str) -> Json:
    """The manifest of `workload`. A StatefulSet is governed by `governing` (a headless one)."""
    meta = metadata(workload.name, workload.namespace, {**workload_labels(workload, mesh)})
    kind = workload.kind
    manifest: Json = {"apiVersion": _API_VERSIONS[kind], "kind": kind.value, "metadata": meta}
    template = pod_template(workload)
    if kind is WorkloadKind.POD:
        manifest["metadata"] = {**meta, **template["metadata"], "labels": meta["labels"]}
        manifest["spec"] = template["spec"]
    elif kind is WorkloadKind.CRON_JOB:
        job = {"template": _never_restart(template)}
        manifest["spec"] = {"schedule": workload.app.schedule, "jobTemplate": {"spec": job}}
    elif kind is WorkloadKind.JOB:
        manifest["spec"] = {"template": _never_restart(template)}
    else:
        manifest["spec"] = _controller_spec(workload, template, governing)
    return manifest


def _controller_spec(workload: Workload, template: Json, governing: Service | None) -> Json:
    spec: Json = {"selector": {"matchLabels": dict(workload.labels)}, "template": template}
    if workload.kind is not WorkloadKind.DAEMON_SET:
        spec = {"replicas": workload.app.replicas, **spec}
    if workload.kind is WorkloadKind.STATEFUL_SET:
        spec["serviceName"] = _governing_name(workload, governing)
    return spec


def _governing_name(workload: Workload, governing: Service | None) -> str:
    if governing is None:
        return workload.name
    return governing.name if governing.headless else names.companion_service(governing.name)


def _never_restart(template: Json) -> Json:
    return {**template, "spec": {**template["spec"], "restartPolicy": "Never"}}


def pod_template(workload: Workload) -> Json:
    """The pod template: labels, annotations (a sidecar log level of its own is one), the
    identity, and the one app container."""
    meta: Json = {"labels": dict(workload.labels)}
    annotations = dict(workload.annotations)
    if workload.proxy_log_level is not None:
        annotations[names.PROXY_LOG_LEVEL_ANNOTATION] = workload.proxy_log_level.value
    if annotations:
        meta["annotations"] = annotations
    spec = {"serviceAccountName": workload.service_account, "containers": [_container(workload)]}
    return {"metadata": meta, "spec": spec}


def _container(workload: Workload) -> Json:
    container: Json = {"name": _container_name(workload), "image": workload.app.image}
    if workload.app.command:
        container["command"] = list(workload.app.command)
    if workload.app.args:
        container["args"] = list(workload.app.args)
    if workload.app.env:
        container["env"] = [{"name": name, "value": value} for name, value in workload.app.env]
    ports = [
        {"containerPort": p.port, **({"name": p.name} if p.name else {})} for p in workload.ports
    ]
    if ports:
        container["ports"] = ports
    for probe in workload.probes:
        container[f"{probe.kind.value}Probe"] = _probe(probe)
    return container


def _container_name(workload: Workload) -> str:
    """The app container's name: the one its probes name, else the workload's."""
    return workload.probes[0].container if workload.probes else workload.name


def _probe(probe: Probe) -> Json:
    found: Json
    if probe.action is ProbeAction.HTTP:
        found = {"httpGet": _http_get(probe)}
    elif probe.action is ProbeAction.TCP:
        found = {"tcpSocket": {"port": probe.port}}
    else:
        found = {"grpc": {"port": probe.port}}
    found["periodSeconds"] = probe.period_seconds
    found["failureThreshold"] = probe.failure_threshold
    if probe.initial_delay_seconds:
        found["initialDelaySeconds"] = probe.initial_delay_seconds
    return found


def _http_get(probe: Probe) -> Json:
    return {"path": probe.path, "port": probe.port, "scheme": "HTTPS" if probe.https else "HTTP"}
