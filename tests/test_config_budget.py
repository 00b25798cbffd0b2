"""The ConfigMap budget is checked as each proxy config is emitted: an open mesh far over it is
refused after its first few workloads, holding no more than one config, on every path."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path
from typing import Any

import pulumi
import pytest

from bench.synthetic import synthetic_spec
from mesh_components import read_spec
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.envoy import EnvoyConfig, emit_workload
from mesh_components.emit.kubernetes import config_maps
from mesh_components.errors import MeshValidationError
from mesh_components.model import MeshSettings, MeshSpec
from mesh_components.model.loader import load_spec
from mesh_components.model.writer import spec_document
from mesh_components.pipeline import budget as config_budget
from mesh_components.pipeline.budget import MOST_REPORTED, ConfigTooLargeError, build_within_budget
from mesh_components.pipeline.build import build
from mesh_components.pipeline.render import render
from mesh_components.pulumi import MeshFromSpec, MeshProgramError
from tests.pulumi_mocks import run
from tests.test_goldens import CASES
from tests.test_pulumi_components import CA_TEXT, NOW
from tests.test_pulumi_whole_mesh import python_args
from tests.test_render import make_ca

SMALL_BUDGET = 50_000
"""Below every config of the 30-service open mesh (about 110 KiB each), so all are over it."""


def open_mesh(services: int) -> MeshSpec:
    """The benchmark's full mesh, with images so that `render` accepts its workloads."""
    document = synthetic_spec(services, mode="open")
    for workload in document["workloads"]:
        workload["image"] = "example/app:1"
    return load_spec(document)


def test_an_open_mesh_over_the_budget_is_refused_after_its_first_workloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = open_mesh(30)
    emitted: list[WorkloadPlan] = []

    def counting(workload: WorkloadPlan, settings: MeshSettings) -> EnvoyConfig:
        emitted.append(workload)
        return emit_workload(workload, settings)

    monkeypatch.setattr(config_budget, "emit_workload", counting)
    with pytest.raises(MeshValidationError) as excinfo:
        render(spec, make_ca(), NOW, budget_bytes=SMALL_BUDGET)
    error = excinfo.value
    assert error.codes == ("config-too-large",)
    # The check stopped at the tenth workload over budget: the other 50 were never emitted.
    assert len(emitted) == MOST_REPORTED < len(spec.workloads)
    summary, *named = error.problems
    assert len(named) == MOST_REPORTED
    assert summary.path == "workloads"
    assert f"among the first {MOST_REPORTED}" in summary.found
    assert f"the other {len(spec.workloads) - MOST_REPORTED} " in summary.found
    assert "access policies" in summary.fix
    first = named[0]
    assert first.path == f"workloads[{spec.workloads[0].ref}]"
    assert f"at most {SMALL_BUDGET} bytes" in first.expected
    size = int(first.found.removesuffix(" bytes"))
    assert size > SMALL_BUDGET
    assert "access policies" in first.fix


def test_refusing_an_open_mesh_holds_one_config_not_all_of_them() -> None:
    spec = open_mesh(30)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigTooLargeError):
            build_within_budget(spec, SMALL_BUDGET)
        _, refusing = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        every = build(spec)
        texts = [workload.envoy.files() for workload in every.workloads]
        _, building_all = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(texts) == len(spec.workloads) == 60
    # Emitting and holding all 60 configs takes several times what the refusal needs.
    assert refusing * 3 < building_all, (refusing, building_all)


def test_every_workload_over_the_budget_is_named_when_few_are() -> None:
    spec = read_spec(CASES["example-bookstore"])
    sizes = {w.plan.workload: config_maps.size_of(w.envoy.files()) for w in build(spec).workloads}
    budget = sorted(sizes.values())[len(sizes) // 2]
    over = {f"workloads[{ref}]" for ref, size in sizes.items() if size > budget}
    assert 0 < len(over) < MOST_REPORTED
    with pytest.raises(ConfigTooLargeError) as excinfo:
        build_within_budget(spec, budget)
    assert {p.path for p in excinfo.value.problems} == over
    found = {p.path: p.found for p in excinfo.value.problems}
    assert found == {f"workloads[{r}]": f"{s} bytes" for r, s in sizes.items() if s > budget}


def test_a_mesh_within_the_budget_builds_the_same_configs_as_the_pipeline() -> None:
    spec = read_spec(CASES["example-bookstore"])
    built = build_within_budget(spec)
    expected = build(spec)
    assert built.compiled == expected
    assert built.files == {w.plan.workload: w.envoy.files() for w in expected.workloads}


def test_render_names_render_problems_beside_the_configs_over_budget() -> None:
    spec = read_spec(CASES["http-service"])
    app = dataclasses.replace(spec.workloads[1].app, image="")
    spec = dataclasses.replace(
        spec, workloads=(spec.workloads[0], dataclasses.replace(spec.workloads[1], app=app))
    )
    with pytest.raises(MeshValidationError) as excinfo:
        render(spec, make_ca(), NOW, budget_bytes=1_000)
    assert excinfo.value.codes == ("config-too-large", "render-image-missing")


def wide_client_mesh() -> MeshSpec:
    """One client reaching 700 HTTP services in open mode: its config passes 900 KiB."""
    spec = read_spec(CASES["http-service"])
    services = tuple(dataclasses.replace(spec.services[0], name=f"web{i:03d}") for i in range(700))
    return dataclasses.replace(spec, services=services, workloads=spec.workloads[:2])


def test_the_whole_mesh_component_refuses_a_config_past_the_default_budget() -> None:
    args: Any = python_args(spec_document(wide_client_mesh()))
    namespaces = sorted({w["namespace"] for w in args["workloads"]})

    def program() -> None:
        ca = pulumi.Output.secret(CA_TEXT)
        args["mesh"] = {**args["mesh"], "namespaces": namespaces, "ca": ca}
        MeshFromSpec(args["mesh"]["name"], args, now=NOW)

    with pytest.raises(MeshProgramError) as excinfo:
        run(program)
    assert set(excinfo.value.codes) == {"config-too-large"}
    assert "workloads[shop/client]" in str(excinfo.value)
    assert "access policies" in str(excinfo.value)


def test_a_config_its_rules_alone_put_over_budget_is_refused_before_it_is_emitted(
    tmp_path: Path,
) -> None:
    """One anchored list of rules shared by many policies: a few KB of YAML once asked for a
    580 MB config, and 6 GB to emit it before the budget said no."""
    rules = "\n".join(f"      - path: {{prefix: /p{i}}}" for i in range(300))
    policies = "".join(
        f"  - name: p{i}\n    namespace: shop\n    destination: {{serviceAccount: api}}\n"
        f"    sources: [{{serviceAccount: web, namespace: shop}}]\n"
        + (f"    http: &rules\n{rules}\n" if i == 0 else "    http: *rules\n")
        for i in range(100)
    )
    spec = tmp_path / "mesh.yaml"
    spec.write_text(
        "mesh: {name: m, access: policy}\n"
        "services:\n  - {name: api, namespace: shop, selector: {app: api}, "
        "ports: [{name: http, port: 8080}]}\n"
        "workloads:\n"
        "  - {name: api, namespace: shop, serviceAccount: api, labels: {app: api}}\n"
        "  - {name: web, namespace: shop, serviceAccount: web, labels: {app: web}}\n"
        f"policies:\n{policies}"
    )
    with pytest.raises(ConfigTooLargeError) as raised:
        build_within_budget(read_spec(spec))
    (problem,) = raised.value.problems
    assert problem.path == "workloads[shop/api]"
    assert problem.found == "at least 1200000 bytes (counted from its rules, before emitting them)"
