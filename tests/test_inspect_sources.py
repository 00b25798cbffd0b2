"""`load_mesh` reads specs, render directories and git revisions into the same proxy configs;
`diff` on render directories reports the certificates that rotate."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.inspect import load_mesh
from mesh_components.inspect.diff import Kind, diff
from mesh_components.inspect.proxy_config import Section, show
from mesh_components.model import WorkloadRef
from mesh_components.pipeline.manifests import manifest_files
from mesh_components.pipeline.output import write_tree
from mesh_components.pipeline.render import render
from mesh_components.pipeline.specfile import read_spec
from mesh_components.pki import ca_file

ROOT = Path(__file__).resolve().parent.parent
BOOKSTORE = ROOT / "examples" / "bookstore"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _render(target: Path, spec: Path, seed: ca_file.CaFile, now: datetime = NOW) -> Path:
    loaded = read_spec(spec)
    rendered = render(loaded, seed.trust(loaded.settings.trust_domain), now)
    write_tree(target, manifest_files(rendered.objects))
    return target


@pytest.fixture(scope="module")
def ca() -> ca_file.CaFile:
    return ca_file.CaFile(current=ca_file.new_seed(NOW))


def test_a_render_directory_reads_back_as_the_spec_compiles(
    tmp_path: Path, ca: ca_file.CaFile
) -> None:
    from_spec = load_mesh(str(BOOKSTORE))
    from_render = load_mesh(str(_render(tmp_path / "out", BOOKSTORE, ca)))
    assert from_render.workloads() == from_spec.workloads()
    for spec_proxy, rendered in zip(from_spec.proxies, from_render.proxies, strict=True):
        assert rendered.spiffe_id == spec_proxy.spiffe_id
        assert rendered.raw() == spec_proxy.raw()
        assert rendered.certificate is not None
        assert rendered.spiffe_id in rendered.certificate.sans
    assert len(from_render.ca_fingerprints) == 1


def test_proxy_config_of_a_render_directory_shows_the_deployed_certificate(
    tmp_path: Path, ca: ca_file.CaFile
) -> None:
    mesh = load_mesh(str(_render(tmp_path / "out", BOOKSTORE, ca)))
    proxy = mesh.proxy(WorkloadRef("bookbuyer", "bookbuyer"))
    assert proxy is not None
    text = show(proxy, Section.SECRETS)
    assert "deployed identity certificate (Secret bookbuyer/bookbuyer-mesh-identity)" in text
    assert "PRIVATE" not in text


def test_the_same_render_twice_has_no_differences(tmp_path: Path, ca: ca_file.CaFile) -> None:
    old = load_mesh(str(_render(tmp_path / "a", BOOKSTORE, ca)))
    new = load_mesh(str(_render(tmp_path / "b", BOOKSTORE, ca)))
    assert diff(old, new).empty


def test_a_new_ca_rotates_every_identity_certificate_and_the_bundle(
    tmp_path: Path, ca: ca_file.CaFile
) -> None:
    later = NOW + timedelta(days=1)
    other = ca_file.CaFile(current=ca_file.new_seed(later))
    old = load_mesh(str(_render(tmp_path / "a", BOOKSTORE, ca)))
    new = load_mesh(str(_render(tmp_path / "b", BOOKSTORE, other, later)))
    result = diff(old, new)
    rotated = {
        w.workload for w in result.workloads if any(c.kind is Kind.CERTIFICATES for c in w.changes)
    }
    assert rotated == {str(ref) for ref in old.workloads()}
    assert [c.subject for c in result.mesh_changes] == ["mesh CA bundle"]
    assert all(c.kind is Kind.CERTIFICATES for w in result.workloads for c in w.changes)


def test_a_weight_change_touches_exactly_the_split_clients_routes() -> None:
    result = diff(
        load_mesh(str(BOOKSTORE)),
        load_mesh(str(ROOT / "tests/goldens_inspect/inputs/bookstore-100-0")),
    )
    assert [w.workload for w in result.workloads] == ["bookbuyer/bookbuyer"]
    (change,) = result.workloads[0].changes
    assert change.kind is Kind.ROUTES
    assert "weight 50 -> 100" in change.detail and "weight 50 -> 0" in change.detail


def test_a_git_revision_of_a_spec_is_read_with_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = (BOOKSTORE / "mesh.yaml").read_text()
    (tmp_path / "mesh.yaml").write_text(spec)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([*git, "add", "mesh.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "spec"], check=True)
    (tmp_path / "mesh.yaml").write_text(spec.replace("weight: 50}", "weight: 25}", 1))
    result = diff(load_mesh("HEAD:mesh.yaml"), load_mesh("mesh.yaml"))
    assert [w.workload for w in result.workloads] == ["bookbuyer/bookbuyer"]
    assert diff(load_mesh("HEAD:mesh.yaml"), load_mesh(str(BOOKSTORE))).empty


def test_an_unknown_revision_is_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MeshValidationError) as raised:
        load_mesh("no-such-revision:mesh.yaml")
    assert raised.value.codes == ("inspect-git-unreadable",)


def test_a_directory_that_is_no_mesh_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(MeshValidationError) as raised:
        load_mesh(str(tmp_path))
    assert raised.value.codes == ("inspect-source-unknown",)


def test_a_pulumi_project_reads_back_as_the_spec_it_deploys() -> None:
    """The root program deploys the bookstore: recorded, its proxies are the spec's, and the
    throwaway CA it was given leaves no certificate behind to show or diff."""
    program = load_mesh(str(ROOT))
    spec = load_mesh(str(BOOKSTORE))
    assert program.source == f"Pulumi project {ROOT}"
    assert program.workloads() == spec.workloads()
    for proxy in program.proxies:
        assert proxy.certificate is None
        assert show(proxy, Section.ALL) == show(spec.proxy(proxy.workload), Section.ALL)  # type: ignore[arg-type]
    assert not program.ca_fingerprints
    assert diff(spec, program).empty
    assert diff(program, load_mesh(str(ROOT))).empty  # a second recording in one process


def test_a_pulumi_project_that_fails_is_one_problem(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\npulumi.log.error('no cluster')\n")
    with pytest.raises(MeshValidationError) as raised:
        load_mesh(str(tmp_path))
    assert raised.value.codes == ("inspect-program-failed",)
    assert "no cluster" in raised.value.problems[0].found
