"""MeshFromSpec, the component other languages use: its schema, and that it deploys what
`render` writes for the same mesh."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.component import ComponentProvider

from mesh_components import names, read_spec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.render import render
from mesh_components.pulumi import MeshFromSpec
from tests.pulumi_mocks import Recorder, run
from tests.test_pulumi_components import CA_TEXT, NOW
from tests.test_render import make_ca

ROOT = Path(__file__).parents[1]
BOOKSTORE = ROOT / "examples" / "bookstore"
RESILIENCE = ROOT / "tests" / "goldens" / "resilience" / "mesh.yaml"
# Also sets a workload's own proxy log level.
RESILIENCE_LOCAL = ROOT / "tests" / "local_resilience"
_FREE_FORM = {"selector", "labels", "headers", "env", "annotations"}
# Spec keys whose snake_case name the regex below does not give.
_SNAKE = {
    "consecutive5xx": "consecutive_5xx",
    "outboundIPRangeExclusions": "outbound_ip_range_exclusions",
    "outboundIPRangeInclusions": "outbound_ip_range_inclusions",
}


def python_args(document: Any, key: str = "") -> Any:
    """A spec document as the components' Python arguments (snake_case keys)."""
    if isinstance(document, list):
        return [python_args(item) for item in document]
    if not isinstance(document, dict) or key in _FREE_FORM:
        return document
    found = {}
    for name, value in document.items():
        snake = _SNAKE.get(name) or re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        if name == "targetPort" and isinstance(value, str):
            snake = "target_port_name"
        found[snake] = python_args(value, name)
    return found


def whole_mesh(path: Path) -> Recorder:
    args = python_args(spec_document(read_spec(path)))
    namespaces = sorted({w["namespace"] for w in args["workloads"]})

    def program() -> None:
        ca = pulumi.Output.secret(CA_TEXT)
        args["mesh"] = {**args["mesh"], "namespaces": namespaces, "ca": ca}
        MeshFromSpec(args["mesh"]["name"], args, now=NOW)

    return run(program)


def test_the_schema_describes_every_input_and_output() -> None:
    schema = json.loads(
        ComponentProvider([MeshFromSpec], "mesh-components", version="0.1.0").schema
    )
    resource = schema["resources"]["mesh-components:index:MeshFromSpec"]
    assert resource["isComponent"]
    assert set(resource["inputProperties"]) == {
        "mesh",
        "services",
        "workloads",
        "splits",
        "policies",
        "destinations",
        "ingress",
        "egress",
    }
    assert set(resource["properties"]) == {
        "meshName",
        "identities",
        "caBundle",
        "configHashes",
        "certificateExpiry",
    }
    for name, definition in schema["types"].items():
        for field, spec in definition["properties"].items():
            assert spec.get("description"), f"{name}.{field}"
    assert (
        "targetPortName" in schema["types"]["mesh-components:index:ServicePortArgs"]["properties"]
    )


@pytest.mark.parametrize(
    "path",
    [BOOKSTORE, RESILIENCE, RESILIENCE_LOCAL],
    ids=["bookstore", "resilience", "resilience-local"],
)
def test_the_whole_mesh_component_deploys_what_render_writes(path: Path) -> None:
    recorder = whole_mesh(path)
    rendered = render(read_spec(path), make_ca(), NOW).objects
    by_kind: dict[str, dict[str, Any]] = {}
    for obj in rendered:
        key = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}".lstrip("/")
        by_kind.setdefault(obj["kind"], {})[key] = obj
    config_maps = {
        name.removesuffix("-mesh-proxy"): r.inputs["data"]
        for name, r in recorder.of_type("kubernetes:core/v1:ConfigMap").items()
    }
    assert config_maps == {
        k.removesuffix("-mesh-proxy"): o["data"] for k, o in by_kind["ConfigMap"].items()
    }
    for kind in ("Deployment", "StatefulSet"):
        deployed = recorder.of_type(f"kubernetes:apps/v1:{kind}")
        assert set(deployed) == set(by_kind.get(kind, {}))
        for name, registered in deployed.items():
            assert base_names(registered.inputs["spec"]) == base_names(
                by_kind[kind][name]["spec"]
            ), name
    accounts = recorder.of_type("kubernetes:core/v1:ServiceAccount")
    assert set(accounts) == set(by_kind["ServiceAccount"])


def base_names(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with content-named ConfigMap and Secret references cut to their base names."""
    text = json.dumps(spec, sort_keys=True)
    text = re.sub(r'(-mesh-(proxy|identity))-[0-9a-f]{10}"', r'\1"', text)
    found: dict[str, Any] = json.loads(text)
    found["template"]["metadata"].get("annotations", {}).pop(names.CONFIG_HASH_ANNOTATION, None)
    return found
