"""The command line as a user runs it: `python -m mesh_components validate|compile`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mesh_components import names
from mesh_components.pipeline import envoy_check
from mesh_components.pipeline.output import MARKER

ROOT = Path(__file__).resolve().parent.parent
BOOKSTORE = ROOT / "examples" / "bookstore"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mesh_components", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_validate_prints_each_workloads_listeners_routes_and_weights() -> None:
    result = run("validate", BOOKSTORE)
    assert result.returncode == 0, result.stderr
    assert "bookbuyer/bookbuyer" in result.stdout
    assert "bookstore/bookstore -> bookstore-v1 50%, bookstore-v2 50%" in result.stdout
    assert "outbound:15001" in result.stdout


def test_validate_checks_every_workload_with_a_real_envoy(envoy_binary: Path) -> None:
    result = run("validate", BOOKSTORE)
    assert "envoy --mode validate: 6/6 configs accepted" in result.stdout


def test_an_invalid_spec_exits_2_listing_every_problem_without_a_traceback(tmp_path: Path) -> None:
    spec = (BOOKSTORE / "mesh.yaml").read_text()
    spec = spec.replace("weight: 50", "weight: -1").replace("port: 14001", "port: 15001", 1)
    (tmp_path / "mesh.yaml").write_text(spec)
    result = run("validate", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for code in ("split-weight-negative", "port-reserved"):
        assert f"[{code}]" in result.stderr


def test_a_missing_spec_is_a_clear_error(tmp_path: Path) -> None:
    result = run("validate", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "file-unreadable" in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_writes_every_workloads_files(tmp_path: Path) -> None:
    result = run("compile", BOOKSTORE, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    files = tree(tmp_path / "out")
    expected = {
        names.BOOTSTRAP_FILE,
        names.STATIC_BOOTSTRAP_FILE,
        names.LDS_FILE,
        names.CDS_FILE,
        names.CERT_SDS_FILE,
        names.CA_SDS_FILE,
    }
    assert {f.rpartition("/")[2] for f in files if f.startswith("bookbuyer/bookbuyer/")} == expected
    assert len([f for f in files if f.endswith(names.STATIC_BOOTSTRAP_FILE)]) == 6


def test_compiled_static_configs_pass_envoy_validate(tmp_path: Path, envoy_binary: Path) -> None:
    """The written files name the pod's certificate volume; point them at throwaway certs."""
    assert run("compile", BOOKSTORE, "-o", tmp_path / "out").returncode == 0
    certs = tmp_path / "certs"
    certs.mkdir()
    for name, pem in envoy_check.throwaway_certificates("spiffe://t/ns/a/sa/b").items():
        (certs / name).write_bytes(pem)
    statics = sorted((tmp_path / "out").rglob(names.STATIC_BOOTSTRAP_FILE))
    assert len(statics) == 6
    for static in statics:
        text = static.read_text().replace(names.CERTS_DIR, str(certs))
        verdict = envoy_check.validate_yaml(envoy_binary, str(static), text)
        assert verdict.accepted, verdict.output


def test_compiling_twice_gives_byte_identical_files(tmp_path: Path) -> None:
    assert run("compile", BOOKSTORE, "-o", tmp_path / "a").returncode == 0
    assert run("compile", BOOKSTORE, "-o", tmp_path / "b").returncode == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_compile_replaces_its_own_earlier_output_but_never_a_file_it_did_not_write(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert run("compile", BOOKSTORE, "-o", out).returncode == 0
    assert run("compile", BOOKSTORE, "-o", out).returncode == 0
    assert (out / MARKER).exists()
    (out / "added-by-hand.yaml").write_text("mine")
    result = run("compile", BOOKSTORE, "-o", out)
    assert result.returncode == 2
    assert "added-by-hand.yaml" in result.stderr
    assert (out / "added-by-hand.yaml").read_text() == "mine"


def test_compile_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run("compile", BOOKSTORE, "-o", tmp_path)
    assert result.returncode == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "bookbuyer").exists()


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_an_invalid_spec_writes_nothing(tmp_path: Path, command: str) -> None:
    (tmp_path / "mesh.yaml").write_text("mesh: {name: x}\nservices: [{name: Bad}]\n")
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    result = run(command, tmp_path, *extra)
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()


def test_an_output_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = run("compile", BOOKSTORE, "-o", tmp_path / "file" / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


OSM_DEMO = ROOT.parent / "shared" / "reference" / "osm-demo"


def run_with_input(stdin: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mesh_components", *map(str, args)]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_render_writes_schema_valid_manifests_in_apply_order(tmp_path: Path) -> None:
    result = run(
        "render",
        BOOKSTORE,
        "-o",
        tmp_path / "out",
        "--ca-file",
        tmp_path / "ca.secret.yaml",
        "--new-ca",
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p for p in (tmp_path / "out").rglob("*.yaml"))
    assert files[0].name == "00-namespaces.yaml"
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, "1.31", strict=True)
    secrets = [p for p in files if "-secret-" in p.name]
    assert secrets and all(p.read_text().startswith("# SECRET") for p in secrets)
    assert oct((tmp_path / "ca.secret.yaml").stat().st_mode & 0o777) == "0o600"


def test_render_twice_with_the_same_ca_file_is_byte_identical_but_for_rotation(
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.secret.yaml"
    assert (
        run("render", BOOKSTORE, "-o", tmp_path / "a", "--ca-file", ca, "--new-ca").returncode == 0
    )
    assert run("render", BOOKSTORE, "-o", tmp_path / "b", "--ca-file", ca).returncode == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


@pytest.mark.skipif(
    not OSM_DEMO.is_dir(), reason="../shared/reference/osm-demo is not beside this checkout"
)
def test_inject_adds_sidecars_to_osm_demo_manifests_as_they_are(tmp_path: Path) -> None:
    names_ = ("apps-bookstore", "apps-bookbuyer", "apps-mysql")
    manifests = "---\n".join((OSM_DEMO / f"{name}.yaml").read_text() for name in names_)
    ca = tmp_path / "ca.secret.yaml"
    result = run_with_input(manifests, "inject", "--mesh", BOOKSTORE, "--ca-file", ca, "--new-ca")
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    for document in documents:
        kubernetes_validate.validate(document, "1.31", strict=True)
    workloads = [d for d in documents if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) == 3
    for workload in workloads:
        init = [c["name"] for c in workload["spec"]["template"]["spec"]["initContainers"]]
        assert init[:2] == [names.INIT_CONTAINER, names.PROXY_CONTAINER]
    assert {d["kind"] for d in documents} >= {"ConfigMap", "Secret"}
    again = run_with_input(result.stdout, "inject", "--mesh", BOOKSTORE, "--ca-file", ca)
    assert again.returncode == 0, again.stderr
    reinjected = [d for d in yaml.safe_load_all(again.stdout) if d and d["kind"] == "Deployment"]
    assert reinjected == [d for d in workloads if d["kind"] == "Deployment"]


def test_inject_of_a_host_network_pod_fails_and_prints_nothing(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: bookstore}\n"
        "spec: {hostNetwork: true, serviceAccountName: p, containers: [{name: c, image: i}]}\n"
    )
    ca = tmp_path / "ca.secret.yaml"
    result = run_with_input(pod, "inject", "--mesh", BOOKSTORE, "--ca-file", ca, "--new-ca")
    assert result.returncode == 2
    assert result.stdout == ""
    assert not ca.exists(), "a failed run must not leave a new CA behind"
    assert "inject-host-network" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_ca_file_is_an_error_not_a_new_ca(tmp_path: Path) -> None:
    ca = tmp_path / "typo.secret.yaml"
    result = run("render", BOOKSTORE, "-o", tmp_path / "out", "--ca-file", ca)
    assert result.returncode == 2
    assert "ca-file-missing" in result.stderr
    assert not ca.exists()
    assert not (tmp_path / "out").exists()


def test_a_broken_ca_file_error_never_quotes_the_seed(tmp_path: Path) -> None:
    ca = tmp_path / "ca.secret.yaml"
    assert (
        run("render", BOOKSTORE, "-o", tmp_path / "a", "--ca-file", ca, "--new-ca").returncode == 0
    )
    seed = yaml.safe_load(ca.read_text())["seed"]
    ca.write_text(ca.read_text().replace(seed, seed + ": x"))
    result = run("render", BOOKSTORE, "-o", tmp_path / "b", "--ca-file", ca)
    assert result.returncode == 2
    assert "file-malformed" in result.stderr
    assert seed[-16:] not in result.stderr + result.stdout
