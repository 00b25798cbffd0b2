"""`render .` on the root Pulumi program, as the README runs it: every object is schema-valid
Kubernetes, every proxy config the pods would mount is accepted by the real Envoy with the
certificates of the Secret they would mount, and two renders are byte-identical."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mesh_components import envoy_check, names
from mesh_components.cli import main

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
    rendered: tuple[Path, Path], envoy_binary: Path, tmp_path: Path
) -> None:
    found = objects(rendered[0])
    by_name = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in found}
    pods = [o for o in found if o["kind"] in ("Deployment", "StatefulSet")]
    assert len(pods) == 6
    for workload in pods:
        namespace = workload["metadata"]["namespace"]
        volumes = workload["spec"]["template"]["spec"]["volumes"]
        config = by_name[(namespace, _volume(volumes, names.CONFIG_VOLUME)["configMap"]["name"])]
        secret = by_name[(namespace, _volume(volumes, names.CERTS_VOLUME)["secret"]["secretName"])]
        certs = tmp_path / workload["metadata"]["name"]
        certs.mkdir()
        for key, value in secret["data"].items():
            (certs / key).write_bytes(base64.b64decode(value))
        static = static_bootstrap(config["data"], certs, tmp_path / f"{certs.name}-config")
        verdict = envoy_check.validate_yaml(envoy_binary, workload["metadata"]["name"], static)
        assert verdict.accepted, verdict.output


def _volume(volumes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [v for v in volumes if v["name"] == name]
    return found


def static_bootstrap(files: dict[str, str], certs: Path, config: Path) -> str:
    """The file-based config as one static bootstrap: validate mode does not open the LDS and
    CDS `path_config_source` files (FACTS.md), so their resources are inlined. The SDS files
    stay files (written to `config`, as mounted), reading the certificates in `certs`."""
    config.mkdir()
    for name, text in files.items():
        (config / name).write_text(text.replace("/etc/mesh/certs", str(certs)))

    def resources(name: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in r.items() if k != "@type"}
            for r in yaml.safe_load(files[name])["resources"]
        ]

    bootstrap = yaml.safe_load(files[names.BOOTSTRAP_FILE])
    bootstrap.pop("dynamic_resources")
    secrets = [r for name in sorted(files) if name.startswith("sds-") for r in resources(name)]
    bootstrap["static_resources"] = {
        "listeners": resources(names.LDS_FILE),
        "clusters": [
            *bootstrap.get("static_resources", {}).get("clusters", []),
            *resources(names.CDS_FILE),
        ],
        "secrets": secrets,
    }
    text = yaml.safe_dump(bootstrap)
    text = text.replace("/etc/mesh/certs", str(certs)).replace("/etc/mesh/config", str(config))
    assert "/etc/mesh" not in text
    return text
