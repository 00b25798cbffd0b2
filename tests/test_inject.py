"""Injection: the mesh added to workload manifests of every kind, in both sidecar modes.

Unit tests pin the order, the volumes, the annotations and every refusal (by code and path);
property tests generate pod templates and check that injection is idempotent, keeps every
original container, init container and volume in order, collides with nothing, and gives
manifests that pass the Kubernetes 1.31 schemas strictly.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_components import names
from mesh_components.emit.kubernetes.inject import (
    TEMPLATE_PATHS,
    VOLUME_MODE,
    ProxyBinding,
    inject_manifest,
    inject_pod_template,
)
from mesh_components.errors import MeshValidationError
from mesh_components.model import MeshSettings, ProxySettings, SidecarMode

Json = dict[str, Any]
KUBERNETES_VERSION = "1.31"
NATIVE = MeshSettings(name="test")
CLASSIC = MeshSettings(name="test", proxy=ProxySettings(sidecar_mode=SidecarMode.CLASSIC))
BINDING = ProxyBinding(config_map="web-mesh-proxy", secret="web-mesh-identity", config_hash="h1")
_API_VERSIONS = {"Job": "batch/v1", "CronJob": "batch/v1", "Pod": "v1"}


def pod_spec(**changes: Any) -> Json:
    spec: Json = {
        "serviceAccountName": "web",
        "initContainers": [{"name": "migrate", "image": "migrate:1"}],
        "containers": [
            {
                "name": "web",
                "image": "web:1",
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                "livenessProbe": {"tcpSocket": {"port": 8080}},
            },
            {
                "name": "worker",
                "image": "worker:1",
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9000}},
            },
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }
    return {**spec, **changes}


def manifest(kind: str, spec: Json | None = None, annotations: Json | None = None) -> Json:
    """A minimal valid manifest of `kind` whose pod template has `spec`."""
    spec = pod_spec() if spec is None else spec
    labels = {"app": "web"}  # one dict in two places, as a YAML alias loads
    template: Json = {"metadata": {"labels": labels}, "spec": spec}
    if annotations:
        template["metadata"]["annotations"] = annotations
    meta = {"name": "web", "namespace": "shop"}
    found: Json = {"apiVersion": _API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "metadata": meta}
    if kind == "Pod":
        found["metadata"] = {**meta, **template["metadata"]}
        found["spec"] = spec
    elif kind == "CronJob":
        found["spec"] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        found["spec"] = {"template": template}
    else:
        found["spec"] = {"selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            found["spec"]["serviceName"] = "web"
    return found


def template_of(found: Json) -> Json:
    if found["kind"] == "Pod":
        return {"metadata": found["metadata"], "spec": found["spec"]}
    tree = found
    for key in TEMPLATE_PATHS[found["kind"]]:
        tree = tree[key]
    return tree


def codes_and_paths(error: MeshValidationError) -> set[tuple[str, str]]:
    return {(p.code, p.path) for p in error.problems}


# Order, volumes, annotations.


def test_native_mode_runs_the_sidecar_right_after_the_mesh_init_container() -> None:
    spec = inject_pod_template({"spec": pod_spec()}, NATIVE, BINDING)["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["mesh-init", "mesh-proxy", "migrate"]
    assert [c["name"] for c in spec["containers"]] == ["web", "worker"]
    assert spec["initContainers"][1]["restartPolicy"] == "Always"


def test_classic_mode_places_the_sidecar_first_among_the_containers() -> None:
    spec = inject_pod_template({"spec": pod_spec()}, CLASSIC, BINDING)["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["mesh-init", "migrate"]
    assert [c["name"] for c in spec["containers"]] == ["mesh-proxy", "web", "worker"]


def test_config_and_certificates_come_from_the_bound_objects_readable_by_the_proxy() -> None:
    spec = inject_pod_template({"spec": pod_spec()}, NATIVE, BINDING)["spec"]
    assert spec["volumes"] == [
        {"name": "data", "emptyDir": {}},
        {
            "name": names.CONFIG_VOLUME,
            "configMap": {"name": "web-mesh-proxy", "defaultMode": 0o444},
        },
        {
            "name": names.CERTS_VOLUME,
            "secret": {"secretName": "web-mesh-identity", "defaultMode": VOLUME_MODE},
        },
    ]
    assert "fsGroup" not in spec.get("securityContext", {})


def test_the_config_hash_is_annotated_and_replaced_on_reinjection() -> None:
    once = inject_pod_template({"spec": pod_spec()}, NATIVE, BINDING)
    assert once["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION] == "h1"
    changed = dataclasses.replace(BINDING, config_hash="h2")
    again = inject_pod_template(once, NATIVE, changed)
    assert again["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION] == "h2"
    assert again == inject_pod_template({"spec": pod_spec()}, NATIVE, changed)


def test_probes_are_rewritten_and_their_ports_opened_by_the_init_container() -> None:
    spec = inject_pod_template({"spec": pod_spec()}, NATIVE, BINDING)["spec"]
    web, worker = spec["containers"]
    assert web["readinessProbe"]["httpGet"] == {"path": "/web", "port": 15902, "scheme": "HTTP"}
    assert web["livenessProbe"]["httpGet"] == {"path": "/web", "port": 15904, "scheme": "HTTP"}
    assert worker["readinessProbe"]["httpGet"]["path"] == "/worker"
    script = spec["initContainers"][0]["command"][-1]
    assert "--dport 15902 -j RETURN" in script
    assert "--dport 15904 -j RETURN" in script
    assert "--dport 15901 -j RETURN" not in script


def test_interception_annotations_reach_the_init_container() -> None:
    template = {
        "metadata": {"annotations": {names.OUTBOUND_PORT_EXCLUSIONS_ANNOTATION: "5432"}},
        "spec": pod_spec(),
    }
    init = inject_pod_template(template, NATIVE, BINDING)["spec"]["initContainers"][0]
    assert "--dport 5432 -j RETURN" in init["command"][-1]


def test_a_pod_may_run_its_sidecar_at_its_own_log_level() -> None:
    def level(annotations: dict[str, str]) -> str:
        template = {"metadata": {"annotations": annotations}, "spec": pod_spec()}
        proxy = inject_pod_template(template, NATIVE, BINDING)["spec"]["initContainers"][1]
        args: list[str] = proxy["args"]
        return args[args.index("--log-level") + 1]

    assert level({}) == NATIVE.proxy.log_level.value == "info"
    assert level({names.PROXY_LOG_LEVEL_ANNOTATION: "debug"}) == "debug"
    with pytest.raises(MeshValidationError) as excinfo:
        level({names.PROXY_LOG_LEVEL_ANNOTATION: "verbose"})
    path = f"metadata.annotations[{names.PROXY_LOG_LEVEL_ANNOTATION}]"
    assert codes_and_paths(excinfo.value) == {("annotation-invalid", path)}


def test_a_probe_changed_after_injection_is_kept_on_reinjection() -> None:
    once = inject_pod_template({"spec": pod_spec()}, NATIVE, BINDING)
    once["spec"]["containers"][1]["readinessProbe"] = {"httpGet": {"path": "/v2", "port": 9001}}
    again = inject_pod_template(once, NATIVE, BINDING)
    original = json.loads(again["metadata"]["annotations"][names.ORIGINAL_PROBES_ANNOTATION])
    assert original["worker"]["readinessProbe"][0] == {"httpGet": {"path": "/v2", "port": 9001}}


def test_injection_copies_and_never_shares_objects_with_its_input() -> None:
    original = manifest("Deployment")
    before = json.dumps(original, sort_keys=True)
    injected = inject_manifest(original, NATIVE, BINDING)
    assert json.dumps(original, sort_keys=True) == before
    labels = injected["spec"]["template"]["metadata"]["labels"]
    assert labels is not injected["spec"]["selector"]["matchLabels"]


# Opting out and refusals.


@pytest.mark.parametrize("on", ["template", "workload"])
def test_an_opted_out_workload_is_returned_unchanged(on: str) -> None:
    opt_out = {names.INJECT_ANNOTATION: "false"}
    found = manifest("Deployment", annotations=opt_out if on == "template" else None)
    if on == "workload":
        found["metadata"]["annotations"] = opt_out
    assert inject_manifest(found, NATIVE, BINDING) == found


@pytest.mark.parametrize(
    ("labels", "annotations", "injected"),
    [
        ({"sidecar.istio.io/inject": "false"}, {}, False),  # Istio's label
        ({}, {"sidecar.istio.io/inject": "false"}, False),  # its older annotation
        ({}, {"linkerd.io/inject": "disabled"}, False),
        ({}, {"openservicemesh.io/sidecar-injection": "disabled"}, False),
        ({"sidecar.istio.io/inject": "true"}, {"linkerd.io/inject": "disabled"}, False),
        ({"sidecar.istio.io/inject": "true"}, {"linkerd.io/inject": "enabled"}, True),
        ({}, {"linkerd.io/inject": "ingress"}, True),  # a value none of them reads as opt-out
    ],
)
def test_a_pod_another_mesh_kept_out_is_kept_out_here_too(
    labels: Json, annotations: Json, injected: bool
) -> None:
    found = manifest("Deployment", annotations=annotations)
    found["spec"]["template"]["metadata"]["labels"] = {"app": "web", **labels}
    out = inject_manifest(found, NATIVE, BINDING)
    assert (out != found) is injected


@pytest.mark.parametrize(
    ("kind", "spec", "code", "path"),
    [
        ("Deployment", pod_spec(hostNetwork=True), "inject-host-network", "spec.hostNetwork"),
        (
            "DaemonSet",
            pod_spec(serviceAccount=7),
            "manifest-invalid",
            "spec.serviceAccount",
        ),
        (
            "StatefulSet",
            pod_spec(volumes=[{"name": names.CERTS_VOLUME, "emptyDir": {}}]),
            "inject-name-collision",
            "spec.volumes[0].name",
        ),
        (
            "Pod",
            pod_spec(initContainers=[{"name": names.PROXY_CONTAINER, "image": "x"}]),
            "inject-name-collision",
            "spec.initContainers[0].name",
        ),
    ],
)
def test_a_pod_that_cannot_join_is_refused_at_the_offending_field(
    kind: str, spec: Json, code: str, path: str
) -> None:
    with pytest.raises(MeshValidationError) as excinfo:
        inject_manifest(manifest(kind, spec), NATIVE, BINDING)
    prefix = ".".join(("Deployment[shop/web]".replace("Deployment", kind), *TEMPLATE_PATHS[kind]))
    assert (code, f"{prefix}.{path}") in codes_and_paths(excinfo.value)


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_classic_mode_refuses_jobs_which_would_never_complete(kind: str) -> None:
    job = manifest(kind, pod_spec(restartPolicy="Never"))
    with pytest.raises(MeshValidationError) as excinfo:
        inject_manifest(job, CLASSIC, BINDING)
    assert excinfo.value.codes == ("inject-classic-run-to-completion",)
    inject_manifest(job, NATIVE, BINDING)  # a native sidecar stops when the app exits


def test_classic_mode_refuses_a_bare_pod_that_runs_to_completion() -> None:
    pod = manifest("Pod", pod_spec(restartPolicy="OnFailure"))
    with pytest.raises(MeshValidationError) as excinfo:
        inject_manifest(pod, CLASSIC, BINDING)
    assert codes_and_paths(excinfo.value) == {
        ("inject-classic-run-to-completion", "Pod[shop/web].spec.restartPolicy")
    }


def test_every_problem_of_a_pod_is_reported_at_once() -> None:
    spec = pod_spec(hostNetwork=True, serviceAccountName="")
    template = {
        "metadata": {"annotations": {names.INBOUND_PORT_EXCLUSIONS_ANNOTATION: "http"}},
        "spec": spec,
    }
    with pytest.raises(MeshValidationError) as excinfo:
        inject_pod_template(template, NATIVE, BINDING)
    assert codes_and_paths(excinfo.value) == {
        ("inject-host-network", "spec.hostNetwork"),
        (
            "annotation-invalid",
            f"metadata.annotations[{names.INBOUND_PORT_EXCLUSIONS_ANNOTATION}]",
        ),
    }


def test_probes_the_sidecar_cannot_tell_apart_are_refused() -> None:
    spec = pod_spec()
    spec["containers"][0]["readinessProbe"] = {"grpc": {"port": 8080}}
    spec["containers"][1]["readinessProbe"] = {"grpc": {"port": 9000}}
    spec["containers"][0]["livenessProbe"] = {"httpGet": {"port": "metrics"}}
    with pytest.raises(MeshValidationError) as excinfo:
        inject_pod_template({"spec": spec}, NATIVE, BINDING)
    assert codes_and_paths(excinfo.value) == {
        ("probe-grpc-conflict", "spec.containers[1].readinessProbe"),
        ("probe-port-unknown", "spec.containers[0].livenessProbe.httpGet.port"),
    }


def test_a_kind_without_a_pod_template_is_refused() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    with pytest.raises(MeshValidationError) as excinfo:
        inject_manifest(service, NATIVE, BINDING)
    assert excinfo.value.codes == ("inject-kind-unsupported",)


# Properties.

_NAMES = ("web", "api", "worker", "cache", "db")
_INIT_NAMES = ("migrate", "setup", "fetch")


@st.composite
def containers(draw: st.DrawFn) -> list[Json]:
    chosen = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
    grpc_kinds_used: set[str] = set()
    found = []
    for index, name in enumerate(chosen):
        port = 8000 + index
        container: Json = {
            "name": name,
            "image": f"{name}:1",
            "ports": [{"name": f"p-{name}", "containerPort": port}],
        }
        for field in ("livenessProbe", "readinessProbe", "startupProbe"):
            choice = draw(st.sampled_from(["none", "http", "named", "tcp", "grpc", "exec"]))
            if choice == "grpc" and field in grpc_kinds_used:
                choice = "tcp"
            grpc_kinds_used |= {field} if choice == "grpc" else set()
            probe = _probe(choice, port, f"p-{name}")
            if probe is not None:
                container[field] = {**probe, "periodSeconds": draw(st.integers(1, 30))}
        found.append(container)
    return found


def _probe(choice: str, port: int, name: str) -> Json | None:
    return {
        "none": None,
        "http": {"httpGet": {"path": "/healthz?full=1", "port": port}},
        "named": {"httpGet": {"path": "/ready", "port": name, "scheme": "HTTP"}},
        "tcp": {"tcpSocket": {"port": port}},
        "grpc": {"grpc": {"port": port, "service": "health"}},
        "exec": {"exec": {"command": ["true"]}},
    }[choice]


@st.composite
def pod_specs(draw: st.DrawFn, kind: str) -> Json:
    inits = draw(st.lists(st.sampled_from(_INIT_NAMES), max_size=3, unique=True))
    volumes = draw(st.lists(st.sampled_from(("data", "scratch", "cache")), max_size=3, unique=True))
    spec: Json = {
        "serviceAccountName": "web",
        "containers": draw(containers()),
    }
    if inits or draw(st.booleans()):
        spec["initContainers"] = [{"name": n, "image": f"{n}:1"} for n in inits]
    if volumes:
        spec["volumes"] = [{"name": v, "emptyDir": {}} for v in volumes]
    if kind in ("Job", "CronJob"):
        spec["restartPolicy"] = draw(st.sampled_from(["Never", "OnFailure"]))
    return spec


@st.composite
def cases(draw: st.DrawFn) -> tuple[Json, MeshSettings]:
    kind = draw(st.sampled_from(sorted(TEMPLATE_PATHS)))
    mode = SidecarMode.NATIVE if kind in ("Job", "CronJob") else draw(st.sampled_from(SidecarMode))
    mesh = MeshSettings(name="test", proxy=ProxySettings(sidecar_mode=mode))
    exclusions = draw(st.sampled_from([{}, {names.INBOUND_PORT_EXCLUSIONS_ANNOTATION: "8000"}]))
    scraping = draw(st.sampled_from(_SCRAPING))
    return manifest(kind, draw(pod_specs(kind)), {**exclusions, **scraping} or None), mesh


_SCRAPING: list[dict[str, str]] = [
    {},
    {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},  # merged
    {"prometheus.io/port": "9090", "prometheus.io/path": "/m", "prometheus.io/scheme": "http"},
    {"prometheus.io/scrape": "true"},  # the sidecar's only
    {"prometheus.io/scrape": "false", "prometheus.io/port": "8080"},  # as written
    {"prometheus.io/scrape": "true", "prometheus.io/port": "8443", "prometheus.io/scheme": "https"},
]
"""The pod's own Prometheus annotations, in each of the ways injection treats them."""


@settings(max_examples=60, deadline=None)
@given(cases())
def test_injecting_twice_is_injecting_once(case: tuple[Json, MeshSettings]) -> None:
    found, mesh = case
    once = inject_manifest(found, mesh, BINDING)
    assert inject_manifest(once, mesh, BINDING) == once


@settings(max_examples=60, deadline=None)
@given(cases())
def test_every_original_container_init_container_and_volume_is_kept_in_order(
    case: tuple[Json, MeshSettings],
) -> None:
    found, mesh = case
    before, after = (
        template_of(found)["spec"],
        template_of(inject_manifest(found, mesh, BINDING))["spec"],
    )
    ours = {names.INIT_CONTAINER, names.PROXY_CONTAINER, names.CONFIG_VOLUME, names.CERTS_VOLUME}
    for key in ("initContainers", "volumes"):
        assert [x for x in after.get(key, []) if x["name"] not in ours] == before.get(key, [])
    kept = [c for c in after["containers"] if c["name"] not in ours]
    assert [c["name"] for c in kept] == [c["name"] for c in before["containers"]]
    for old, new in zip(before["containers"], kept, strict=True):
        assert {k: v for k, v in old.items() if not k.endswith("Probe")} == {
            k: v for k, v in new.items() if not k.endswith("Probe")
        }
        assert {k for k in old if k.endswith("Probe")} == {k for k in new if k.endswith("Probe")}


@settings(max_examples=60, deadline=None)
@given(cases())
def test_injected_pods_have_no_name_collisions_and_mount_only_what_exists(
    case: tuple[Json, MeshSettings],
) -> None:
    found, mesh = case
    spec = template_of(inject_manifest(found, mesh, BINDING))["spec"]
    every = [*spec["initContainers"], *spec["containers"]]
    container_names = [c["name"] for c in every]
    assert len(container_names) == len(set(container_names))
    volume_names = [v["name"] for v in spec["volumes"]]
    assert len(volume_names) == len(set(volume_names))
    port_names = [p["name"] for c in every for p in c.get("ports", []) if "name" in p]
    assert len(port_names) == len(set(port_names))
    mounts = {m["name"] for c in every for m in c.get("volumeMounts", [])}
    assert mounts <= set(volume_names)
    assert spec["initContainers"][0]["name"] == names.INIT_CONTAINER


@settings(max_examples=40, deadline=None)
@given(cases())
def test_injected_manifests_pass_the_kubernetes_schema_strictly(
    case: tuple[Json, MeshSettings],
) -> None:
    found, mesh = case
    kubernetes_validate.validate(
        inject_manifest(found, mesh, BINDING), KUBERNETES_VERSION, strict=True
    )


_KINDS_AND_MODES = [
    (kind, mode)
    for kind in sorted(TEMPLATE_PATHS)
    for mode in SidecarMode
    if not (mode is SidecarMode.CLASSIC and kind in ("Job", "CronJob"))  # refused, see above
]


@pytest.mark.parametrize(("kind", "mode"), _KINDS_AND_MODES)
def test_every_kind_in_every_mode_passes_the_kubernetes_schema(
    kind: str, mode: SidecarMode
) -> None:
    restart = {"restartPolicy": "Never"} if kind in ("Job", "CronJob") else {}
    mesh = MeshSettings(name="test", proxy=ProxySettings(sidecar_mode=mode))
    injected = inject_manifest(manifest(kind, pod_spec(**restart)), mesh, BINDING)
    kubernetes_validate.validate(injected, KUBERNETES_VERSION, strict=True)
