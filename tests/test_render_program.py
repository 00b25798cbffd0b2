"""`render .` on the root Pulumi program, as the README runs it: every object is schema-valid
Kubernetes, every proxy config the pods would mount is accepted by the real Envoy with the
certificates of the Secret they would mount, and two renders are byte-identical."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mesh_components.cli import main
from mesh_components.local import missing_requirements
from mesh_components.pipeline import render_check

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("render-program")
    ca = work / "ca.secret.yaml"
    argv = ["render", str(ROOT), "-o", str(work / "out"), "--ca-file", str(ca), "--new-ca"]
    assert main(argv) == 0
    return work / "out", ca


def objects(out: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(out.rglob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_every_object_is_schema_valid_kubernetes(rendered: tuple[Path, Path]) -> None:
    found = objects(rendered[0])
    kinds = {o["kind"] for o in found}
    assert {"Namespace", "ServiceAccount", "Secret", "ConfigMap", "Service"} <= kinds
    assert {"Deployment", "StatefulSet"} <= kinds
    for obj in found:
        kubernetes_validate.validate(obj, "1.31", strict=True)


def test_two_renders_with_the_same_ca_are_byte_identical(
    rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    out, ca = rendered
    assert main(["render", str(ROOT), "-o", str(tmp_path / "again"), "--ca-file", str(ca)]) == 0
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {
        p.relative_to(tmp_path / "again"): p.read_bytes()
        for p in (tmp_path / "again").rglob("*")
        if p.is_file()
    }
    assert first == second


@pytest.mark.envoy
def test_envoy_accepts_every_mounted_config_with_its_mounted_certificates(
    rendered: tuple[Path, Path], envoy_binary: Path
) -> None:
    mounted = list(render_check.mounted_configs(objects(rendered[0])))
    assert len(mounted) == 6
    assert all(set(m.certificates) == {"ca.crt", "tls.crt", "tls.key"} for m in mounted)
    verdicts = render_check.validate_mounted(envoy_binary, mounted)
    assert [v.name for v in verdicts if not v.accepted] == []


@pytest.mark.envoy
def test_the_check_fails_a_config_envoy_would_refuse(
    rendered: tuple[Path, Path], envoy_binary: Path
) -> None:
    (first, *_) = render_check.mounted_configs(objects(rendered[0]))
    other = next(m for m in render_check.mounted_configs(objects(rendered[0])) if m != first)
    swapped = dataclasses.replace(
        first, certificates={**first.certificates, "tls.key": other.certificates["tls.key"]}
    )
    (verdict,) = render_check.validate_mounted(envoy_binary, [swapped])
    assert not verdict.accepted


@pytest.mark.envoy
def test_the_demo_summarises_the_root_program_and_envoy_accepts_it(
    envoy_binary: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert "5 Deployment, 1 StatefulSet" in out
    assert "bookwarehouse/mysql            bookwarehouse/mysql" in out
    assert "envoy --mode validate: 6/6 mounted configs accepted" in out
    if missing_requirements(()) is None:  # root on Linux: the demo ran it locally too
        assert "pods Ready: 6/6" in out
        assert re.search(r"200 requests: bookstore-v1 \d+, bookstore-v2 \d+", out)
        assert "bookthief -> bookstore, 20 requests: error" in out
    else:
        assert "local run: skipped" in out
