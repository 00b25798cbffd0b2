"""A running pod's status as the kubelet reports it to the API server: phase, IPs, conditions
and one status per container, init containers and native sidecars included.

Times are wall-clock RFC 3339, as the API stores them. The patch is strategic (conditions merge
by type), so the scheduler's PodScheduled condition stays as it wrote it.
"""

from __future__ import annotations

import time

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local.container import Container
from mesh_components.local.network import NODE_IP
from mesh_components.local.pod import Pod


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def pod_status(pod: Pod, started: float) -> Json:
    """What to PATCH into `pods/<name>/status` for `pod`, started at wall-clock `started`."""
    spec = pod.spec
    status: Json = {
        "phase": phase(pod),
        "hostIP": str(NODE_IP),
        "hostIPs": [{"ip": str(NODE_IP)}],
        "startTime": rfc3339(started),
        "conditions": _conditions(pod),
        "initContainerStatuses": [
            _init_status(pod, container) for container in spec.get("initContainers") or []
        ],
        "containerStatuses": [
            _status(container, _running(pod.containers, container["name"]), "PodInitializing")
            for container in spec.get("containers") or []
        ],
    }
    if pod.ip:
        status["podIP"] = pod.ip
        status["podIPs"] = [{"ip": pod.ip}]
    # None removes what an earlier patch said (a strategic merge keeps what it is not told).
    status["reason"], status["message"] = None, None
    if pod.phase == "Failed":
        status["reason"], status["message"] = "LocalRunnerFailed", pod.error[:1000]
    elif pod.waiting_reason:
        status["reason"], status["message"] = "ContainerCreating", pod.waiting_reason
    return status


def phase(pod: Pod) -> str:
    """Pending until the containers start; Succeeded or Failed once every container of a pod
    that does not restart them has exited; Running otherwise."""
    if pod.phase == "Failed":
        # The kubelet retries a pod that restarts its containers, so it stays Pending and its
        # controller does not replace it (this runner does not retry: the message says why).
        return "Failed" if pod.spec.get("restartPolicy") == "Never" else "Pending"
    if not pod.containers:
        return "Pending"
    if pod.spec.get("restartPolicy", "Always") != "Always" and not any(
        c.running for c in pod.containers
    ):
        exits = [c.exit_code for c in pod.containers]
        return "Succeeded" if all(code == 0 for code in exits) else "Failed"
    return "Running"


def _conditions(pod: Pod) -> list[Json]:
    ready = pod.ready
    containers_ready = bool(pod.containers) and all(c.ready for c in pod.containers)
    states = {
        "PodReadyToStartContainers": pod.link is not None,
        "Initialized": pod.init_done,
        "ContainersReady": containers_ready,
        "Ready": ready,
    }
    return [
        {"type": kind, "status": "True" if value else "False"} for kind, value in states.items()
    ]


def _init_status(pod: Pod, spec: Json) -> Json:
    if spec.get("restartPolicy") == "Always":  # a native sidecar
        return _status(spec, _running(pod.sidecars, spec["name"]), "PodInitializing")
    if pod.init_done:
        done = {"terminated": {"exitCode": 0, "reason": "Completed"}}
        return {**_base(spec), "ready": False, "started": False, "state": done}
    return {**_base(spec), "ready": False, "started": False, "state": _waiting("PodInitializing")}


def _running(containers: list[Container], name: str) -> Container | None:
    return next((c for c in containers if c.name == name), None)


def _status(spec: Json, container: Container | None, reason: str) -> Json:
    if container is None:
        return {**_base(spec), "ready": False, "started": False, "state": _waiting(reason)}
    base = {**_base(spec), "restartCount": container.restarts, "ready": container.ready}
    if container.running:
        since = time.time() - (time.monotonic() - container.started_at)
        running = {"running": {"startedAt": rfc3339(since)}}
        return {**base, "started": container.started, "state": running}
    if container.restart_at is not None:
        return {**base, "started": False, "state": _waiting("CrashLoopBackOff")}
    code = container.exit_code if container.exit_code is not None else -1
    reason = "Completed" if code == 0 else "Error"
    return {**base, "started": False, "state": {"terminated": {"exitCode": code, "reason": reason}}}


def _base(spec: Json) -> Json:
    return {
        "name": spec["name"],
        "image": str(spec.get("image", "")),
        "imageID": "",
        "restartCount": 0,
    }


def _waiting(reason: str) -> Json:
    return {"waiting": {"reason": reason}}
