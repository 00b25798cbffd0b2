"""Ingress through the Pulumi components: MeshFromSpec (and so MeshIngress) compiles the same
proxy configs as `render`, and issues each ingress identity the same certificate Secret, as a
Pulumi secret, with no ServiceAccount (the controller's own install makes that)."""

from __future__ import annotations

from pathlib import Path

import pulumi

from mesh_components import names, read_spec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline.render import render
from mesh_components.pulumi import MeshFromSpec
from tests.pulumi_mocks import Recorder, run
from tests.test_pulumi_components import CA_TEXT, NOW
from tests.test_pulumi_whole_mesh import python_args
from tests.test_render import make_ca

CASE = Path(__file__).parent / "goldens" / "ingress"
SECRET = "kubernetes:core/v1:Secret"


def whole_mesh() -> Recorder:
    args = python_args(spec_document(read_spec(CASE)))

    def program() -> None:
        ca = pulumi.Output.secret(CA_TEXT)
        args["mesh"] = {**args["mesh"], "namespaces": ["shop"], "ca": ca}
        MeshFromSpec("ingress", args, now=NOW)

    return run(program)


def test_mesh_ingress_issues_the_identity_secret_render_issues() -> None:
    recorder = whole_mesh()
    rendered = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["data"]
        for o in render(read_spec(CASE), make_ca(), NOW).objects
        if o["kind"] == "Secret"
    }
    programmed = {name: r for name, r in recorder.of_type(SECRET).items()}
    ingress = f"ingress-nginx/{names.identity_secret('ingress-nginx')}"
    assert ingress in rendered and ingress in programmed
    assert programmed[ingress].inputs["data"] == rendered[ingress]
    assert "data" in programmed[ingress].secret_keys
    accounts = recorder.of_type("kubernetes:core/v1:ServiceAccount")
    assert not [name for name in accounts if name.startswith("ingress-nginx/")]


def test_mesh_ingress_compiles_the_proxy_configs_render_writes() -> None:
    recorder = whole_mesh()
    rendered = {
        o["metadata"]["name"]: o["data"]
        for o in render(read_spec(CASE), make_ca(), NOW).objects
        if o["kind"] == "ConfigMap"
    }
    programmed = {
        r.inputs["metadata"]["name"].rsplit("-", 1)[0]: r.inputs["data"]
        for r in recorder.of_type("kubernetes:core/v1:ConfigMap").values()
    }
    assert programmed == rendered
    assert "inbound|ingress|8080|plaintext" in programmed[names.proxy_config_map("web")]["lds.yaml"]
