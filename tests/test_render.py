"""`render`: every Kubernetes object of a mesh, as goldens per object kind, schema-valid, and with
private keys only in Secrets.

Regenerate the goldens with `.venv/bin/pytest tests/test_render.py --update-goldens`.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime

import kubernetes_validate
import pytest
import yaml

from mesh_components import names, read_spec, yamltext
from mesh_components.emit.kubernetes.metadata import Json
from mesh_components.errors import MeshValidationError
from mesh_components.pipeline.render import render
from mesh_components.pki import MeshCA
from tests.test_goldens import CASES, GOLDENS

KUBERNETES_VERSION = "1.31"
# A seed for tests only: the keys it derives are test keys, and goldens redact them anyway.
TEST_SEED = b"mesh-components test seed, never use it for real".ljust(32, b".")
CA_START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
REDACTED = "<test private key, redacted from goldens>"


def make_ca(trust_domain: str = "cluster.local") -> MeshCA:
    return MeshCA.from_seed(TEST_SEED, trust_domain=trust_domain, not_before=CA_START)


def rendered(case: str) -> tuple[Json, ...]:
    spec = read_spec(CASES[case])
    return render(spec, make_ca(spec.settings.trust_domain), NOW).objects


def _golden_text(objects: list[Json]) -> str:
    return "---\n".join(yamltext.dump(_redacted(o), sort_keys=False) for o in objects)


def _redacted(obj: Json) -> Json:
    if obj["kind"] != "Secret":
        return obj
    return {**obj, "data": {**obj["data"], names.PRIVATE_KEY_FILE: REDACTED}}


def _by_kind(objects: tuple[Json, ...]) -> dict[str, str]:
    kinds = sorted({o["kind"] for o in objects})
    return {
        f"{kind.lower()}.yaml": _golden_text([o for o in objects if o["kind"] == kind])
        for kind in kinds
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_objects_match_the_golden_files(case: str, update_goldens: bool) -> None:
    actual = _by_kind(rendered(case))
    folder = GOLDENS / case / "kubernetes"
    if update_goldens:
        for stale in folder.glob("*.yaml"):
            if stale.name not in actual:
                stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in actual.items():
            (folder / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))}
    assert sorted(actual) == sorted(expected), "golden files differ: run with --update-goldens"
    for name, text in actual.items():
        assert text == expected[name], f"{case}/kubernetes/{name} differs from its golden file"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_rendered_object_passes_the_kubernetes_schema(case: str) -> None:
    for obj in rendered(case):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_private_keys_are_only_in_secrets_and_secrets_hold_only_certificates(case: str) -> None:
    for obj in rendered(case):
        text = yaml.safe_dump(obj)
        if obj["kind"] == "Secret":
            assert set(obj["data"]) == {
                names.CERT_CHAIN_FILE,
                names.PRIVATE_KEY_FILE,
                names.CA_BUNDLE_FILE,
            }
            decoded = {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}
            assert "PRIVATE KEY" in decoded[names.PRIVATE_KEY_FILE]
            assert all(
                "PRIVATE KEY" not in v for k, v in decoded.items() if k != names.PRIVATE_KEY_FILE
            )
        else:
            assert "PRIVATE KEY" not in text, f"{obj['kind']} {obj['metadata']['name']} holds a key"


def test_two_renders_are_byte_identical() -> None:
    assert rendered("example-bookstore") == rendered("example-bookstore")


def test_a_workload_config_past_the_budget_names_the_workload_its_size_and_the_fix() -> None:
    spec = read_spec(CASES["example-bookstore"])
    with pytest.raises(MeshValidationError) as excinfo:
        render(spec, make_ca(), NOW, budget_bytes=10_000)
    problem = next(p for p in excinfo.value.problems if p.code == "config-too-large")
    assert problem.path.startswith("workloads[")
    assert "bytes" in problem.found
    assert "access policies" in problem.fix


def test_a_generated_large_mesh_is_refused_before_a_configmap_would_overflow() -> None:
    """One client reaching 700 HTTP services in open mode: its config passes 900 KiB."""
    spec = read_spec(CASES["http-service"])
    server = spec.workloads[0]
    services = tuple(dataclasses.replace(spec.services[0], name=f"web{i:03d}") for i in range(700))
    big = dataclasses.replace(spec, services=services, workloads=(server, spec.workloads[1]))
    with pytest.raises(MeshValidationError) as excinfo:
        render(big, make_ca(), NOW)
    too_large = [p for p in excinfo.value.problems if p.code == "config-too-large"]
    assert {p.path for p in too_large} >= {"workloads[shop/client]"}


def test_a_workload_without_an_image_cannot_be_rendered() -> None:
    spec = read_spec(CASES["http-service"])
    app = dataclasses.replace(spec.workloads[1].app, image="")
    spec = dataclasses.replace(
        spec, workloads=(spec.workloads[0], dataclasses.replace(spec.workloads[1], app=app))
    )
    with pytest.raises(MeshValidationError) as excinfo:
        render(spec, make_ca(), NOW)
    assert excinfo.value.codes == ("render-image-missing",)


def test_the_config_hash_on_the_pod_template_follows_the_config() -> None:
    before = _hashes(rendered("example-bookstore"))
    spec = read_spec(CASES["example-bookstore"])
    split = spec.splits[0]
    heavier = dataclasses.replace(split.backends[0], weight=90)
    spec = dataclasses.replace(
        spec, splits=(dataclasses.replace(split, backends=(heavier, *split.backends[1:])),)
    )
    after = _hashes(render(spec, make_ca(), NOW).objects)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"bookbuyer/bookbuyer"}


def _hashes(objects: tuple[Json, ...]) -> dict[str, str]:
    found = {}
    for obj in objects:
        template = obj.get("spec", {}).get("template")
        if template is not None:
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            found[key] = template["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION]
    return found
