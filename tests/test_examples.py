"""The example Pulumi projects run under mocks and do what their READMEs say: the canary moves
exactly one route's weights, two composed stacks equal one, the TCP service is proxied as TCP,
and the YAML program's properties map onto the whole-mesh component."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from mesh_components.pulumi import Mesh, MeshFromSpec
from tests.pulumi_mocks import Recorder, project_program, run
from tests.test_pulumi_components import CA_TEXT, NOW

EXAMPLES = Path(__file__).parents[1] / "examples"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def render_example(name: str, **config: str) -> Recorder:
    return run(project_program(EXAMPLES / name, config={"ca": CA_TEXT, **config}, now=NOW))


def proxy_configs(recorder: Recorder) -> dict[str, dict[str, str]]:
    return {name: r.inputs["data"] for name, r in recorder.of_type(CONFIG_MAP).items()}


def route_weights(data: dict[str, str]) -> list[tuple[str, int]]:
    """Every weighted cluster in a proxy's listeners, as (cluster, weight)."""
    found: list[tuple[str, int]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "weighted_clusters" in node:
                found.extend(
                    (c["name"], c["weight"]) for c in node["weighted_clusters"]["clusters"]
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(data["lds.yaml"]))
    return found


def test_the_canary_moves_only_the_frontends_weights_in_three_steps() -> None:
    stages = {
        weight: render_example("canary", canaryWeight=str(weight)) for weight in (10, 50, 100)
    }
    configs = {weight: proxy_configs(recorder) for weight, recorder in stages.items()}
    for before, after in ((10, 50), (50, 100)):
        changed = {n for n in configs[before] if configs[before][n] != configs[after][n]}
        assert changed == {"shop/frontend-mesh-proxy"}
    for weight, found in configs.items():
        weights = dict(route_weights(found["shop/frontend-mesh-proxy"]))
        assert weights == {"shop/api-v1|80": 100 - weight, "shop/api-v2|80": weight}, weight


def test_two_composed_stacks_give_the_same_objects_as_one_stack() -> None:
    platform = render_example("composition/platform")
    assert set(platform.of_type("kubernetes:core/v1:Namespace")) == {"shop"}
    assert not platform.of_type(CONFIG_MAP)  # the platform runs no workload
    exports = {"declarations": platform_declarations(), "ca": CA_TEXT}
    app = run(
        project_program(
            EXAMPLES / "composition" / "app", config={"platformStack": "org/platform/dev"}, now=NOW
        ),
        stack_references={"org/platform/dev": exports},
    )
    single = run(one_stack)
    for type_ in (CONFIG_MAP, "kubernetes:core/v1:Secret", "kubernetes:apps/v1:Deployment"):
        assert {n: r.inputs for n, r in app.of_type(type_).items()} == {
            n: r.inputs for n, r in single.of_type(type_).items()
        }, type_
    assert "kubernetes:core/v1:Namespace" not in {r.type_ for r in app.resources}


def platform_declarations() -> dict[str, Any]:
    """What the platform stack exports as `declarations`, read from its Mesh."""
    found: dict[str, Any] = {}

    def program() -> None:
        with Mesh(
            "shop", {"namespaces": ["shop"], "mtls": "strict", "access": "policy", "ca": CA_TEXT}
        ) as mesh:
            pass
        mesh.declarations.apply(found.update)

    run(program)
    assert found["mesh"] == {"name": "shop"}
    return found


def one_stack() -> None:
    """The platform's mesh and the app's shop, declared in one program."""
    path = EXAMPLES / "composition" / "app" / "shop.py"
    spec = importlib.util.spec_from_file_location("shop_example", path)
    assert spec is not None and spec.loader is not None
    shop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shop)
    with Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW) as mesh:
        mesh.auto_inject()
        shop.declare(mesh)


def test_the_tcp_example_proxies_redis_as_tcp_and_checks_the_caller_in_the_handshake() -> None:
    configs = proxy_configs(render_example("tcp"))
    redis = yaml.safe_load(configs["cache/redis-mesh-proxy"]["lds.yaml"])
    text = yaml.safe_dump(redis)
    assert "envoy.filters.network.tcp_proxy" in text
    assert "spiffe://cluster.local/ns/cache/sa/worker" in text


def test_the_yaml_programs_properties_map_onto_the_whole_mesh_component() -> None:
    program = yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text())
    (resource,) = program["resources"].values()
    assert resource["type"] == "mesh-components:index:MeshFromSpec"
    assert program["packages"]["mesh-components"] == "../../provider"
    provider = ComponentProvider([MeshFromSpec], "mesh-components", version="0.1.0")
    args = provider.map_inputs(resource["properties"], provider._component_defs["MeshFromSpec"])

    def consume() -> None:
        args["mesh"]["ca"] = pulumi.Output.secret(CA_TEXT)  # the program's ${ca}
        MeshFromSpec("shop", args, now=NOW)  # type: ignore[arg-type]

    recorder = run(consume)
    assert set(proxy_configs(recorder)) == {
        "shop/api-mesh-proxy",
        "shop/frontend-mesh-proxy",
    }
    assert set(recorder.of_type("kubernetes:apps/v1:Deployment")) == {"shop/api", "shop/frontend"}
