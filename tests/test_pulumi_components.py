"""The Pulumi components under mocks: the root program equals the bookstore spec, secrets stay
secret, previews are exact, a weight change touches exactly the right ConfigMaps, and mistakes
are clear errors. Every assertion is on resolved inputs, after all RPCs finished."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from mesh_components import names, read_spec
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.pipeline.render import render
from mesh_components.pulumi import (
    AccessPolicy,
    DestinationSettings,
    Mesh,
    MeshProgramError,
    MeshService,
    TrafficSplit,
)
from mesh_components.validate import MeshNote
from tests.pulumi_mocks import Recorder, project_program, run
from tests.test_render import CA_START, TEST_SEED, make_ca

ROOT = Path(__file__).parents[1]
NOW = datetime(2026, 11, 1, tzinfo=UTC)
CA_TEXT = f"seed: '{TEST_SEED.hex()}'\nnotBefore: '{CA_START.isoformat()}'\n"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def root_program(**config: str) -> Callable[[], None]:
    """The repository's __main__.py with stack config, its certificates issued at NOW."""
    return project_program(ROOT, config={"ca": CA_TEXT, **config}, now=NOW)


def config_maps(recorder: Recorder) -> dict[str, Json]:
    """Proxy ConfigMaps by `<namespace>/<workload>`."""
    return {
        name.removesuffix("-mesh-proxy"): r.inputs
        for name, r in recorder.of_type(CONFIG_MAP).items()
    }


@pytest.fixture(scope="module")
def bookstore() -> Recorder:
    return run(root_program())


def test_the_root_program_compiles_to_the_same_proxy_configs_as_the_bookstore_spec(
    bookstore: Recorder,
) -> None:
    spec = read_spec(ROOT / "examples" / "bookstore")
    rendered = {
        f"{o['metadata']['namespace']}/{o['metadata']['name'].removesuffix('-mesh-proxy')}": o
        for o in render(spec, make_ca(), NOW).objects
        if o["kind"] == "ConfigMap"
    }
    programmed = config_maps(bookstore)
    assert sorted(programmed) == sorted(rendered)
    for workload, config_map in programmed.items():
        assert config_map["data"] == rendered[workload]["data"], workload


def test_the_root_program_issues_the_same_certificates_as_render(bookstore: Recorder) -> None:
    spec = read_spec(ROOT / "examples" / "bookstore")
    rendered = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["data"]
        for o in render(spec, make_ca(), NOW).objects
        if o["kind"] == "Secret"
    }
    programmed = {name: r.inputs["data"] for name, r in bookstore.of_type(SECRET).items()}
    assert programmed == rendered


def test_identity_secrets_are_pulumi_secrets_and_keys_appear_nowhere_else(
    bookstore: Recorder,
) -> None:
    secrets = bookstore.of_type(SECRET)
    assert secrets and all("data" in r.secret_keys for r in secrets.values())
    for registered in bookstore.resources:
        text = json.dumps(registered.inputs)
        if registered.type_ != SECRET:
            assert "PRIVATE KEY" not in text, registered.name
            assert "LS0tLS1CRUdJTiBQUklWQVRF" not in text, registered.name  # base64 of the PEM
    for registered in secrets.values():
        key = base64.b64decode(registered.inputs["data"][names.PRIVATE_KEY_FILE])
        assert b"PRIVATE KEY" in key


def test_every_workload_mounts_its_content_named_config_map_and_secret(
    bookstore: Recorder,
) -> None:
    made = {
        r.inputs["metadata"]["name"] for r in bookstore.resources if r.type_ in (CONFIG_MAP, SECRET)
    }
    workloads = [*bookstore.of_type(DEPLOYMENT).values()]
    workloads += bookstore.of_type("kubernetes:apps/v1:StatefulSet").values()
    assert len(workloads) == 6
    for workload in workloads:
        pod = workload.inputs["spec"]["template"]["spec"]
        mounted = {
            v.get("configMap", v.get("secret", {})).get("name") or v["secret"]["secretName"]
            for v in pod["volumes"]
        }
        assert mounted <= made, workload.name
        assert [c["name"] for c in pod["initContainers"]] == [
            names.INIT_CONTAINER,
            names.PROXY_CONTAINER,
        ]


def kubernetes_objects(recorder: Recorder) -> dict[tuple[str, str], Json]:
    """Registration order varies under mocks (FACTS.md): compare by type and name."""
    return {
        (r.type_, r.name): r.inputs for r in recorder.resources if r.type_.startswith("kubernetes:")
    }


def test_two_runs_register_identical_resources(bookstore: Recorder) -> None:
    assert kubernetes_objects(run(root_program())) == kubernetes_objects(bookstore)


def test_a_preview_knows_every_proxy_config_and_only_cluster_ips_are_unknown(
    bookstore: Recorder,
) -> None:
    preview = run(root_program(), preview=True)
    assert config_maps(preview) == config_maps(bookstore)
    assert preview.of_type(SECRET).keys() == bookstore.of_type(SECRET).keys()


def test_changing_one_weight_changes_exactly_the_config_maps_of_its_callers(
    bookstore: Recorder,
) -> None:
    canary = run(root_program(bookstoreV2Weight="10"))
    before, after = config_maps(bookstore), config_maps(canary)
    changed = {w for w in before if before[w]["data"] != after[w]["data"]}
    # Only bookbuyer may call bookstore; bookthief is denied, so its proxy has no such route.
    assert changed == {"bookbuyer/bookbuyer"}
    names_before = {w: c["metadata"]["name"] for w, c in before.items()}
    names_after = {w: c["metadata"]["name"] for w, c in after.items()}
    assert {w for w in names_before if names_before[w] != names_after[w]} == changed


# Smaller programs, one behaviour each.

WEB_PORTS = [{"name": "http", "port": 80, "target_port": 8080}]


def deployment(name: str, namespace: str = "shop", **template: Any) -> k8s.apps.v1.Deployment:
    labels = {"app": name, **template.pop("labels", {})}
    pod = {
        "metadata": {"labels": labels, **template.pop("metadata", {})},
        "spec": {
            "service_account_name": name,
            "containers": [{"name": name, "image": "nginx", "ports": [{"container_port": 8080}]}],
        },
    }
    return k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": namespace, **template.pop("top", {})},
        spec={"selector": {"match_labels": labels}, "template": pod},
    )


def shop(body: Callable[[Mesh], None], **mesh_args: Any) -> Callable[[], None]:
    def program() -> None:
        args = {"namespaces": ["shop"], "ca": pulumi.Output.secret(CA_TEXT), **mesh_args}
        with Mesh("shop", args, now=NOW) as mesh:  # type: ignore[arg-type]
            mesh.auto_inject()
            MeshService(
                "web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS}
            )
            body(mesh)

    return program


def test_hot_reload_mode_keeps_fixed_names_and_does_not_roll_pods() -> None:
    recorder = run(shop(lambda _: deployment("web"), config_updates="hot-reload"))
    (config_map,) = recorder.of_type(CONFIG_MAP).values()
    assert config_map.inputs["metadata"]["name"] == "web-mesh-proxy"
    assert not config_map.inputs.get("immutable")
    template = recorder.of_type(DEPLOYMENT)["web"].inputs["spec"]["template"]
    assert names.CONFIG_HASH_ANNOTATION not in (template["metadata"].get("annotations") or {})


def test_two_workloads_of_one_identity_share_one_secret() -> None:
    def shared(_: Mesh) -> None:
        deployment("web")
        k8s.apps.v1.Deployment(
            "web-canary",
            metadata={"name": "web-canary", "namespace": "shop"},
            spec={
                "selector": {"matchLabels": {"app": "web", "track": "canary"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "track": "canary"}},
                    "spec": {
                        "serviceAccountName": "web",
                        "containers": [{"name": "web", "image": "nginx:2"}],
                    },
                },
            },
        )

    recorder = run(shop(shared))
    (secret,) = recorder.of_type(SECRET).values()
    pods = [d.inputs["spec"]["template"]["spec"] for d in recorder.of_type(DEPLOYMENT).values()]
    mounted = {v["secret"]["secretName"] for pod in pods for v in pod["volumes"] if "secret" in v}
    assert mounted == {secret.inputs["metadata"]["name"]}
    assert len(recorder.of_type(CONFIG_MAP)) == 2


def test_a_bare_pod_gets_its_sidecar_and_the_mesh_annotations() -> None:
    def pod(_: Mesh) -> None:
        k8s.core.v1.Pod(
            "web",
            metadata={"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            spec={
                "service_account_name": "web",
                "containers": [{"name": "web", "image": "nginx"}],
            },
        )

    recorder = run(shop(pod))
    registered = recorder.of_type("kubernetes:core/v1:Pod")["web"].inputs
    containers = [c["name"] for c in registered["spec"]["initContainers"]]
    assert containers == [names.INIT_CONTAINER, names.PROXY_CONTAINER]
    assert names.CONFIG_HASH_ANNOTATION in registered["metadata"]["annotations"]
    assert registered["metadata"]["labels"] == {"app": "web"}
    assert set(config_maps(recorder)) == {"shop/web"}


def test_auto_injection_merges_the_apps_declared_metrics_with_the_sidecars() -> None:
    own = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
    with pytest.warns(MeshNote, match=r"shop/web: the app's metrics \(port 8080, /metrics\)"):
        recorder = run(shop(lambda _: deployment("web", metadata={"annotations": own})))
    template = recorder.of_type(DEPLOYMENT)["web"].inputs["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "15010"
    assert json.loads(annotations[names.APP_METRICS_ANNOTATION]) == own
    assert "local-metrics|8080" in config_maps(recorder)["shop/web"]["data"]["cds.yaml"]


def test_a_workload_that_opts_out_is_left_alone() -> None:
    opted_out = {"annotations": {names.INJECT_ANNOTATION: "false"}}
    recorder = run(shop(lambda _: (deployment("web"), deployment("batch", top=opted_out))))
    batch = recorder.of_type(DEPLOYMENT)["batch"].inputs["spec"]["template"]["spec"]
    assert "initContainers" not in batch
    assert "shop/batch-mesh-proxy" not in recorder.of_type(CONFIG_MAP)


def test_a_workload_istio_kept_out_is_left_alone() -> None:
    kept_out = {"sidecar.istio.io/inject": "false"}
    recorder = run(shop(lambda _: (deployment("web"), deployment("batch", labels=kept_out))))
    batch = recorder.of_type(DEPLOYMENT)["batch"].inputs["spec"]["template"]["spec"]
    assert "initContainers" not in batch
    assert "shop/batch-mesh-proxy" not in recorder.of_type(CONFIG_MAP)


def test_workloads_outside_the_meshed_namespaces_are_left_alone() -> None:
    recorder = run(shop(lambda _: (deployment("web"), deployment("other", namespace="elsewhere"))))
    other = recorder.of_type(DEPLOYMENT)["other"].inputs["spec"]["template"]["spec"]
    assert "initContainers" not in other


def test_explicit_injection_gives_the_same_pod_as_auto_injection() -> None:
    def explicit(mesh: Mesh) -> None:
        template = {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "serviceAccountName": "web",
                "containers": [
                    {"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]}
                ],
            },
        }
        spec = {"selector": {"matchLabels": {"app": "web"}}, "template": template}
        args = mesh.inject("web", "Deployment", {"name": "web", "namespace": "shop"}, spec)
        k8s.apps.v1.Deployment("web", opts=None, **args)

    def program() -> None:
        with Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW) as mesh:
            MeshService(
                "web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS}
            )
            explicit(mesh)

    by_hand = run(program).of_type(DEPLOYMENT)["web"].inputs
    automatic = run(shop(lambda _: deployment("web"))).of_type(DEPLOYMENT)["web"].inputs
    assert by_hand == automatic


def test_cert_manager_mode_creates_certificates_and_no_secret() -> None:
    certificates = {"issuer": "cert-manager", "issuer_ref": {"name": "mesh-ca"}}
    recorder = run(shop(lambda _: deployment("web"), certificates=certificates, ca=None))
    assert recorder.of_type(SECRET) == {}
    (certificate,) = recorder.of_type("kubernetes:cert-manager.io/v1:Certificate").values()
    assert certificate.inputs["spec"]["secretName"] == "web-mesh-identity"
    pod = recorder.of_type(DEPLOYMENT)["web"].inputs["spec"]["template"]["spec"]
    assert {
        "name": names.CERTS_VOLUME,
        "secret": {"defaultMode": 0o444, "secretName": "web-mesh-identity"},
    } in pod["volumes"]


def failure(program: Callable[[], None]) -> MeshProgramError:
    with pytest.raises(MeshProgramError) as error:
        run(program)
    return error.value


def test_a_bad_port_is_reported_with_its_path_and_no_traceback_type() -> None:
    def body(_: Mesh) -> None:
        MeshService("db", {"namespace": "shop", "ports": [{"name": "db", "port": "3306"}]})  # type: ignore[typeddict-item]

    error = failure(shop(body))
    assert isinstance(error, pulumi.RunError)
    assert error.codes == ("spec-wrong-type",)
    assert "services[db].ports[db].port" in str(error)


def test_a_declaration_after_finalize_is_refused() -> None:
    def program() -> None:
        with Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW) as mesh:
            mesh.auto_inject()
            MeshService(
                "web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS}
            )
            deployment("web")
        TrafficSplit("late", {"namespace": "shop", "service": "web", "backends": []})

    assert failure(program).codes == ("mesh-finalized",)


def test_pod_labels_from_another_resource_are_refused() -> None:
    def body(_: Mesh) -> None:
        deployment("web", labels={"tier": pulumi.Output.from_input("front")})

    error = failure(shop(body))
    assert error.codes == ("workload-field-not-plain",)
    assert "template.metadata" in str(error)


def test_a_mesh_without_a_ca_says_how_to_get_one() -> None:
    def program() -> None:
        Mesh("shop", {"namespaces": ["shop"]})

    error = failure(program)
    assert error.codes == ("ca-missing",)
    assert "render --new-ca" in str(error)


def test_proxy_resources_and_interception_reach_every_pod() -> None:
    proxy = {
        "resources": {"memory_limit": "256Mi", "cpu_limit": "500m"},
        "interception": {"outbound_port_exclusions": [5432], "outbound_ip_range_exclusions": []},
    }
    recorder = run(shop(lambda _: deployment("web"), proxy=proxy))
    spec = recorder.of_type(DEPLOYMENT)["web"].inputs["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in [*spec["initContainers"], *spec.get("containers", [])]}
    limits = containers[names.PROXY_CONTAINER]["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "256Mi"}
    init = containers[names.INIT_CONTAINER]
    assert "--dport 5432 -j RETURN" in json.dumps(init)


def web_with_a_client(settings: dict[str, Any]) -> Callable[[Mesh], None]:
    """`client` may call `web`, whose destination settings are `settings`."""

    def body(_: Mesh) -> None:
        deployment("web")
        deployment("client")
        AccessPolicy(
            "web-callers",
            {
                "namespace": "shop",
                "destination": {"service": "web"},
                "sources": [{"service_account": "client"}],
            },
        )
        DestinationSettings("web", {"namespace": "shop", **settings})  # type: ignore[typeddict-item]

    return body


def proxy_config(recorder: Recorder, workload: str, part: str) -> Any:
    return yaml.safe_load(config_maps(recorder)[workload]["data"][part])


def test_destination_settings_reach_the_callers_route_and_cluster() -> None:
    settings = {
        "timeout": "3s",
        "retries": {"attempts": 4, "retry_on": ["5xx"], "per_try_timeout": "1s"},
        "circuit_breakers": {"max_requests": 10},
        "outlier_detection": {"consecutive_5xx": 2},
    }
    recorder = run(shop(web_with_a_client(settings)))
    listeners = proxy_config(recorder, "shop/client", "lds.yaml")["resources"]
    (outbound,) = [x for x in listeners if x["name"] == names.OUTBOUND_LISTENER]
    (chain,) = outbound["filter_chains"]
    manager = chain["filters"][0]["typed_config"]
    (host,) = [h for h in manager["route_config"]["virtual_hosts"] if h["name"] == "shop/web"]
    route = host["routes"][0]["route"]
    assert route["timeout"] == "3s"
    assert route["retry_policy"]["retry_on"] == "5xx"
    assert route["retry_policy"]["num_retries"] == 4
    assert route["retry_policy"]["per_try_timeout"] == "1s"
    clusters = proxy_config(recorder, "shop/client", "cds.yaml")["resources"]
    (cluster,) = [c for c in clusters if c["name"] == "shop/web|80"]
    assert cluster["circuit_breakers"]["thresholds"][0]["max_requests"] == 10
    assert cluster["outlier_detection"]["consecutive_5xx"] == 2


def test_a_destination_rate_limit_is_enforced_by_the_services_own_sidecar() -> None:
    settings = {"timeout": "3s", "rate_limit": {"requests_per_second": 50}}
    recorder = run(shop(web_with_a_client(settings)))
    web_listeners = proxy_config(recorder, "shop/web", "lds.yaml")["resources"]
    (inbound,) = [x for x in web_listeners if x["name"] == names.INBOUND_LISTENER]
    filters = inbound["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    (limit,) = [f for f in filters if f["name"] == "envoy.filters.http.local_ratelimit"]
    assert limit["typed_config"]["token_bucket"]["tokens_per_fill"] == 50


def test_a_zero_rate_limit_is_refused_with_its_path() -> None:
    error = failure(shop(web_with_a_client({"rate_limit": {"requests_per_second": 0}})))
    assert error.codes == ("destination-rate-limit-invalid",)
    assert "destinations[shop/web].rateLimit" in str(error)


def test_destination_settings_for_an_unknown_service_are_refused() -> None:
    def body(_: Mesh) -> None:
        deployment("web")
        DestinationSettings("webb", {"namespace": "shop", "timeout": "3s"})

    error = failure(shop(body))
    assert error.codes == ("destination-unknown-service",)


def test_policies_and_splits_name_their_mesh_when_there_are_two() -> None:
    def program() -> None:
        Mesh("a", {"ca": CA_TEXT})
        Mesh("b", {"ca": CA_TEXT})
        AccessPolicy("p", {"namespace": "shop", "destination": {"service": "web"}, "sources": []})

    assert failure(program).codes == ("mesh-unknown",)


def test_the_mesh_outputs_hold_certificates_and_hashes_but_no_private_key() -> None:
    found: dict[str, Any] = {}

    def program() -> None:
        with Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW) as mesh:
            mesh.auto_inject()
            MeshService(
                "web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS}
            )
            deployment("web")
        outputs = {
            "ca_bundle": mesh.ca_bundle,
            "identities": mesh.identities,
            "config_hashes": mesh.config_hashes,
            "certificate_expiry": mesh.certificate_expiry,
            "declarations": mesh.declarations,
        }
        pulumi.Output.all(**outputs).apply(found.update)

    run(program)
    assert found["identities"] == ["shop/web"]
    assert found["ca_bundle"].startswith("-----BEGIN CERTIFICATE-----")
    assert set(found["config_hashes"]) == {"shop/web"}
    assert found["certificate_expiry"] == {
        "shop/web": "2027-01-26T00:00:00+00:00"
    }  # 2026-10-28 + 90d
    assert "PRIVATE KEY" not in json.dumps(found)
