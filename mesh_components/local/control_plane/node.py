"""The node of a real control plane: the local runner as its kubelet, kube-proxy and DNS, fed
by the API server instead of a render directory.

    API server ──watch──> Pods bound to this node ──> Pod (sandbox, init containers, sidecars,
               │                                       Envoy, probes), as `local up` runs them
               ├─watch──> ConfigMaps, Secrets ──> volumes (the `..data` swap when they change)
               └─watch──> Services, EndpointSlices ──> kube-proxy rules and DNS answers
    each Pod's state ──PATCH pods/status──> API server (IP, conditions, container states)
    Node object registered Ready; its Lease renewed every 10 s

A pod the API server marks for deletion is terminated gracefully (out of the endpoints,
SIGTERM, its grace period, sidecars last) and then deleted with grace 0, as the kubelet does.
Projected ServiceAccount tokens come from the TokenRequest API, renewed at 80% of their life.
A PersistentVolumeClaim that nothing binds gets a PersistentVolume made for it, and that volume
is deleted once its claim is, as kind's local-path provisioner does (the pod mounts an empty
directory of its own, docs/local.md).

Where a kubelet differs: the node authenticates with the admin credential rather than a
`system:node:` one limited by the Node authorizer, and images are never pulled (the local runner
decides what each container runs, docs/local.md).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.local.cluster import LocalCluster, require_envoy
from mesh_components.local.control_plane.api import Api, ApiError
from mesh_components.local.control_plane.informer import Informer, wait_synced
from mesh_components.local.control_plane.pod_status import pod_status, rfc3339
from mesh_components.local.manifests import Manifests
from mesh_components.local.network import NODE_IP
from mesh_components.local.pod import Pod, PodIdentity
from mesh_components.local.services import BackendsOf, observed_view, slice_backends
from mesh_components.local.volumes import PodFacts, TokenSource

KUBERNETES_VERSION = "v1.37.2"  # the release `make tools` builds (tools/go/kubernetes)
LEASE_SECONDS = 40
RENEW_EVERY = 10.0
NODE_STATUS_EVERY = 60.0
VOLUME_SYNC_EVERY = 30.0
TICK = 0.1
SYNC_TIMEOUT = 60.0
TOKEN_SECONDS = 3607  # the kubelet's default for the kube-api-access volume

COLLECTIONS = {
    "ConfigMap": "/api/v1/configmaps",
    "Secret": "/api/v1/secrets",
    "Service": "/api/v1/services",
    "EndpointSlice": "/apis/discovery.k8s.io/v1/endpointslices",
    "PersistentVolumeClaim": "/api/v1/persistentvolumeclaims",
    "PersistentVolume": "/api/v1/persistentvolumes",
}
PROVISIONED = "mesh-components.local/provisioned-for"  # the label on volumes the node made


class ApiNode(LocalCluster):
    """A Node of the API server at `api`, named after the cluster, running its pods here."""

    AWAITS_VOLUME_SOURCES = True  # a pod may be bound before its Secrets exist

    def __init__(self, name: str, api: Api) -> None:
        super().__init__(name)
        self.api = api
        self.node_name = self.layout.cluster
        self._informers = {
            kind: Informer(api, path, kind, self._on_object) for kind, path in COLLECTIONS.items()
        }
        pods = f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.node_name}"
        self._informers["Pod"] = Informer(api, pods, "Pod", self._on_pod)
        self._by_uid: dict[str, Pod] = {}
        self._started: dict[str, float] = {}
        self._sent: dict[str, Json] = {}
        self._deleting: set[str] = set()
        self._tokens: dict[tuple[str, str, int], tuple[bytes, float]] = {}
        self._wake = threading.Event()
        self._objects_changed = threading.Event()
        self._renewed = 0.0
        self._reported = 0.0
        self._volumes_synced = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Start the node: its network and DNS, its Node object, its watches and its loop."""
        envoy = require_envoy()
        try:
            self._start_node(envoy)
            self._register()
            for kind in COLLECTIONS:
                self._informers[kind].start()
            wait_synced([self._informers[kind] for kind in COLLECTIONS], SYNC_TIMEOUT)
            self._refresh_objects()
            self._informers["Pod"].start()
            self._controller.start()
            self._wait_schedulable()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill every pod and remove the node's network and files (not the control plane's)."""
        for informer in self._informers.values():
            informer.stop()
        self._stop_node()
        for path in (self.layout.status_file, self.layout.pods, self.layout.bin):
            _remove(path)

    # -- the Node object --------------------------------------------------------------------

    def _register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _architecture(),
        }
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name,
                "labels": labels}, "spec": {}}  # fmt: skip
        try:
            self.api.request("POST", "/api/v1/nodes", node)
        except ApiError as error:
            if error.status != 409:  # left by a node that was killed: take it over
                raise
        self._report_node()
        self._renew_lease()

    def _wait_schedulable(self) -> None:
        """Until the node lifecycle controller has lifted the not-ready taint that admission
        puts on every new Node (it looks every 5 s), so that pods applied next are scheduled."""
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            node = self.api.get(f"/api/v1/nodes/{self.node_name}")
            taints = (node.get("spec") or {}).get("taints") or []
            if not [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]:
                return
            time.sleep(0.25)
        raise ApiError(0, f"node {self.node_name} still tainted after {SYNC_TIMEOUT:g} s")

    def _report_node(self) -> None:
        now = rfc3339(time.time())
        conditions = [
            {"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": now}
            for kind, status, reason in (
                ("Ready", "True", "KubeletReady"),
                ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID"),
            )
        ]
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": _memory(), "pods": "110"}
        status = {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": str(NODE_IP)},
                {"type": "Hostname", "address": self.node_name},
            ],
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": _node_info(),
        }
        path = f"/api/v1/nodes/{self.node_name}/status"
        self.api.request("PATCH", path, {"status": status}, STRATEGIC)
        self._reported = time.monotonic()

    def _renew_lease(self) -> None:
        """Renew the node's Lease (the heartbeat the node lifecycle controller reads)."""
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        renewed = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": renewed}  # fmt: skip
        try:
            self.api.request("PATCH", f"{leases}/{self.node_name}", {"spec": spec}, MERGE)
        except ApiError as error:
            if error.status != 404:
                raise
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.node_name}, "spec": spec}  # fmt: skip
            self.api.request("POST", leases, lease)
        self._renewed = time.monotonic()

    # -- watched objects --------------------------------------------------------------------

    def _on_object(self, _event: str, obj: Json) -> None:
        self._objects_changed.set()
        self._wake.set()

    def _on_pod(self, _event: str, _obj: Json) -> None:
        self._wake.set()

    def _refresh_objects(self) -> None:
        """Services, ConfigMaps and Secrets as the watches last saw them; kube-proxy follows."""
        self._objects_changed.clear()
        stored: dict[tuple[str, str, str], Json] = {}
        for kind in ("ConfigMap", "Secret", "Service"):
            for obj in self._informers[kind].items():
                stored[(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        with self._lock:
            self.objects = Manifests(stored)
            self._services = [observed_view(s) for s in self.objects.of_kind("Service")]
        self._changed()

    def _backends(self) -> BackendsOf:
        """Each Service's Ready endpoints, from the EndpointSlices the controller manager
        wrote (read once)."""
        slices = self._informers["EndpointSlice"].items()
        return lambda service: slice_backends(service, slices)

    def _changed(self) -> None:
        super()._changed()
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    def _control_loop(self) -> None:
        """Run what is bound here, report it, keep the Node alive; woken by every event."""
        while not self._stopping.is_set():
            self._wake.wait(TICK * 5)
            self._wake.clear()
            for step in self._steps():
                try:
                    step()
                except Exception:  # One failing step must not starve the others; the log says why.
                    traceback.print_exc()
            self._stopping.wait(TICK)

    def _steps(self) -> list[Callable[[], None]]:
        """One turn of the loop, in order: pods first, so nothing else can hold them up."""
        now = time.monotonic()
        steps: list[Callable[[], None]] = [self._sync_pods, self._report_pods]
        if self._objects_changed.is_set():
            steps += [self._refresh_objects, self._sync_volumes]
        elif now - self._volumes_synced > VOLUME_SYNC_EVERY:
            steps.append(self._sync_volumes)  # tokens near their end are renewed here
        steps.append(self._provision_claims)
        if now - self._renewed > RENEW_EVERY:
            steps.append(self._renew_lease)
        if now - self._reported > NODE_STATUS_EVERY:
            steps.append(self._report_node)
        steps.append(self.write_status)
        return steps

    def _sync_pods(self) -> None:
        bound = {obj["metadata"]["uid"]: obj for obj in self._informers["Pod"].items()}
        for uid, obj in bound.items():
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                self._delete(uid, obj)
            elif uid not in self._by_uid and (obj.get("status") or {}).get("phase") not in (
                "Succeeded",
                "Failed",
            ):
                self._run_pod(obj)
        for uid in [uid for uid in self._by_uid if uid not in bound]:
            self._forget(uid, graceful=False)  # deleted with grace 0 by someone else

    def _run_pod(self, obj: Json) -> None:
        assert self._node is not None
        meta, spec = obj["metadata"], obj.get("spec") or {}
        labels = dict(meta.get("labels") or {})
        identity = PodIdentity(
            meta["name"],
            meta.get("namespace") or "default",
            workload_of(meta),
            str(labels.get("pod-template-hash") or labels.get("controller-revision-hash") or ""),
            str(spec.get("hostname") or meta["name"]),
            str(spec.get("subdomain") or ""),
        )
        template = {"metadata": {"labels": labels, "annotations": meta.get("annotations") or {}},
                    "spec": spec}  # fmt: skip
        pod = Pod(self._node, identity, template, uid=meta["uid"])
        with self._lock:
            self._pods.append(pod)
            self._by_uid[meta["uid"]] = pod
        self._started[meta["uid"]] = time.time()
        pod.start()

    def _delete(self, uid: str, obj: Json) -> None:
        """Terminate a pod being deleted, then remove its object (once)."""
        if uid in self._deleting:
            return
        self._deleting.add(uid)
        grace = obj["metadata"].get("deletionGracePeriodSeconds")
        threading.Thread(target=self._finish, args=(uid, obj, grace), name="delete").start()

    def _finish(self, uid: str, obj: Json, grace: float | None) -> None:
        try:
            self._forget(uid, graceful=True, grace=grace)
            meta = obj["metadata"]
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                       "preconditions": {"uid": uid}}  # fmt: skip
            try:
                self.api.request("DELETE", path, options)
            except ApiError as error:
                if error.status not in (404, 409):  # gone already, or another pod by now
                    raise
        except Exception:
            traceback.print_exc()
        finally:
            self._deleting.discard(uid)

    def _forget(self, uid: str, *, graceful: bool, grace: float | None = None) -> None:
        with self._lock:
            pod = self._by_uid.pop(uid, None)
            if pod is None:
                return
            if pod in self._pods:
                self._pods.remove(pod)
            self._terminating.append(pod)
        if graceful:
            pod.terminate(None if grace is None else float(grace))
        else:
            pod.kill()
        with self._lock:
            if pod in self._terminating:
                self._terminating.remove(pod)
        self._sent.pop(uid, None)
        self._started.pop(uid, None)

    def _report_pods(self) -> None:
        """PATCH the status of every pod whose state changed since it was last sent."""
        with self._lock:
            running = list(self._by_uid.items())
        for uid, pod in running:
            status = pod_status(pod, self._started.get(uid, time.time()))
            if self._sent.get(uid) == status:
                continue
            path = f"/api/v1/namespaces/{pod.id.namespace}/pods/{pod.id.name}/status"
            patch = {"metadata": {"uid": uid}, "status": status}
            try:
                self.api.request("PATCH", path, patch, STRATEGIC)
            except ApiError as error:
                if error.status not in (404, 409):
                    raise
            self._sent[uid] = status

    def _sync_volumes(self) -> None:
        """Rewrite the volumes of running pods whose sources changed (each a `..data` swap)."""
        self._volumes_synced = time.monotonic()
        with self._lock:
            pods = [p for p in self._by_uid.values() if p.phase == "Running"]
            objects = self.objects
        for pod in pods:
            try:
                pod.refresh_volumes(objects)
            except Exception as error:  # a source deleted under a running pod: it keeps its files
                print(f"{pod.id.namespace}/{pod.id.name}: volumes not refreshed: {error}")

    # -- claims --------------------------------------------------------------------------------

    def _provision_claims(self) -> None:
        """A volume for each claim nothing bound; volumes whose claim is gone are deleted."""
        volumes = self._informers["PersistentVolume"].items()
        made = {v["metadata"].get("labels", {}).get(PROVISIONED) for v in volumes}
        for claim in self._informers["PersistentVolumeClaim"].items():
            uid = claim["metadata"]["uid"]
            unbound = not claim["spec"].get("volumeName") and uid not in made
            if unbound and not claim["metadata"].get("deletionTimestamp"):
                volume = _volume_for(claim, self.layout.state / "claims")
                try:
                    self.api.request("POST", "/api/v1/persistentvolumes", volume)
                except ApiError as error:
                    if error.status != 409:  # made already: the watch had not said so yet
                        raise
        for volume in volumes:
            released = (volume.get("status") or {}).get("phase") == "Released"
            if released and PROVISIONED in volume["metadata"].get("labels", {}):
                name = volume["metadata"]["name"]
                try:
                    self.api.request("DELETE", f"/api/v1/persistentvolumes/{name}")
                except ApiError as error:
                    if error.status != 404:
                        raise

    # -- ServiceAccount tokens --------------------------------------------------------------

    def _token_source(self) -> TokenSource:
        return self._token

    def _token(self, pod: PodFacts, source: Json) -> bytes:
        """A token bound to `pod` from the TokenRequest API, kept until 80% of its life."""
        audience = str(source.get("audience") or "")
        seconds = int(source.get("expirationSeconds") or TOKEN_SECONDS)
        key = (pod.uid, audience, seconds)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        path = f"/api/v1/namespaces/{pod.namespace}/serviceaccounts/{pod.service_account}/token"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.name,
                                   "uid": pod.uid},
            },
        }  # fmt: skip
        answer = self.api.request("POST", path, request)
        token = str(answer["status"]["token"]).encode()
        self._tokens[key] = (token, time.monotonic() + 0.8 * seconds)
        return token


STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


def _volume_for(claim: Json, folder: Path) -> Json:
    """A PersistentVolume bound in advance to `claim` (the PV controller completes the bind);
    its path is where such a volume would live: the pods here get an empty directory."""
    meta, spec = claim["metadata"], claim["spec"]
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "labels": {PROVISIONED: meta["uid"]}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "storageClassName": spec.get("storageClassName") or "",
            "persistentVolumeReclaimPolicy": "Retain",  # the node deletes it, not a plugin
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
            "hostPath": {"path": str(folder / meta["uid"]), "type": ""},
        },
    }  # fmt: skip


def workload_of(meta: Json) -> str:
    """`Kind/name` of the workload that owns a pod: a ReplicaSet made by a Deployment is named
    `<deployment>-<pod-template-hash>`, so the Deployment is found without asking."""
    owners = meta.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return f"Pod/{meta['name']}"
    kind, name = str(owner["kind"]), str(owner["name"])
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return f"Deployment/{name.removesuffix(f'-{template_hash}')}"
    return f"{kind}/{name}"


def _architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _memory() -> str:
    pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return f"{pages * size // 1024}Ki"


def _node_info() -> Json:
    machine = Path("/etc/machine-id")
    machine_id = machine.read_text().strip() if machine.is_file() else ""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return {
        "machineID": machine_id,
        "systemUUID": machine_id,
        "bootID": boot,
        "kernelVersion": os.uname().release,
        "osImage": "mesh_components local runner",
        "containerRuntimeVersion": "mesh-components-local://1",
        "kubeletVersion": KUBERNETES_VERSION,
        "kubeProxyVersion": KUBERNETES_VERSION,
        "operatingSystem": "linux",
        "architecture": _architecture(),
    }


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
