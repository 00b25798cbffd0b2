"""Nothing is written where it should not be: `render` of a Pulumi program or of a
manifest directory refuses object names that are not Kubernetes names (every one listed, exit
2, nothing written), `write_tree` itself refuses a relative path that leaves the output, and
`diff REV:path` refuses a revision git would read as an option (`--output=FILE` truncates it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mesh_components.cli import main
from mesh_components.pipeline.output import OutputError, write_tree
from mesh_components.pki import ca_file

HOSTILE_PROGRAM = """
import pulumi_kubernetes as k8s

k8s.core.v1.ConfigMap(
    "by-name", metadata={"name": "../../../escaped-by-name", "namespace": "default"}, data={}
)
k8s.core.v1.ConfigMap(
    "by-namespace", metadata={"name": "ok", "namespace": "/escaped-by-namespace"}, data={}
)
k8s.rbac.v1.ClusterRole("cluster-scoped", metadata={"name": "../escaped-cluster"}, rules=[])
"""


def _everything_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


def test_render_of_a_program_refuses_names_that_are_not_kubernetes_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "a" / "b" / "c" / "program"
    project.mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: hostile\nruntime: python\n")
    (project / "__main__.py").write_text(HOSTILE_PROGRAM)
    before = _everything_under(tmp_path)
    assert main(["render", str(project), "-o", str(project / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("[object-name-invalid]") == 3
    assert "'../../../escaped-by-name'" in err and "'/escaped-by-namespace'" in err
    assert _everything_under(tmp_path) == before
    assert not Path("/escaped-by-namespace").exists()


def test_render_of_a_manifest_directory_refuses_a_name_that_is_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifests = tmp_path / "in" / "deeper"
    manifests.mkdir(parents=True)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "../../../../escaped", "namespace": "shop"},
    }
    (manifests / "account.yaml").write_text(yaml.safe_dump(account))
    ca = tmp_path / "ca.secret.yaml"
    ca.write_text(ca_file.text_of(ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))))
    ca.chmod(0o600)
    before = _everything_under(tmp_path)
    out = ["-o", str(tmp_path / "out"), "--ca-file", str(ca), "--namespaces", "shop"]
    code = main(["render", str(manifests), *out])
    assert code == 2
    assert "[object-name-invalid]" in capsys.readouterr().err
    assert _everything_under(tmp_path) == before


@pytest.mark.parametrize("relative", ["../outside.yaml", "/etc/outside.yaml", "a/../../b.yaml"])
def test_write_tree_refuses_a_path_that_leaves_the_output(tmp_path: Path, relative: str) -> None:
    with pytest.raises(OutputError, match="outside"):
        write_tree(tmp_path / "out", {relative: "x"})
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "outside.yaml").exists()


def test_a_revision_that_is_a_git_option_is_refused_and_truncates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(Path(__file__).parents[1])  # a git checkout, as `diff REV:path` needs
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    assert main(["diff", "--", f"--output={victim}:x", "examples/bookstore"]) == 2
    assert "[inspect-git-unreadable]" in capsys.readouterr().err
    assert victim.read_text() == "keep"


def test_a_file_kept_inside_the_output_stops_the_next_write_instead_of_being_deleted(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a/one.yaml": "1"})
    write_tree(out, {"a/one.yaml": "1", "two.yaml": "2"})  # our own output is replaced
    assert sorted(p.name for p in out.rglob("*.yaml")) == ["one.yaml", "two.yaml"]
    (out / "ca.secret.yaml").write_text("seed: kept")
    with pytest.raises(OutputError, match=r"holds ca\.secret\.yaml"):
        write_tree(out, {"a/one.yaml": "1"})
    assert (out / "ca.secret.yaml").read_text() == "seed: kept"
    assert (out / "two.yaml").exists()


def test_staging_left_by_a_killed_write_is_removed_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"one.yaml": "1"})
    stale = tmp_path / ".out-k1ll3d"
    stale.mkdir()
    (stale / ".mesh-components-staging").write_text("")
    (stale / "identity.key").write_text("PRIVATE KEY")
    users = tmp_path / ".out-notes"
    users.mkdir()
    (users / "mine.txt").write_text("mine")
    write_tree(out, {"one.yaml": "1"})
    assert not stale.exists()
    assert (users / "mine.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out-notes", "out"]


def test_a_new_ca_that_cannot_be_saved_leaves_no_output_signed_by_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    ca = tmp_path / "a-file" / "ca.secret.yaml"  # its folder is a file: saving fails
    example = Path(__file__).parents[1] / "examples" / "bookstore"
    out = tmp_path / "out"
    assert main(["render", str(example), "-o", str(out), "--ca-file", str(ca), "--new-ca"]) == 2
    assert not out.exists()


@pytest.mark.parametrize("output", [".", ".."])
def test_the_current_directory_or_one_holding_it_is_refused_as_output(
    output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(OutputError, match="current directory"):
        write_tree(Path(output), {"one.yaml": "1"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert list(here.iterdir()) == []


def test_a_directory_named_like_the_old_output_is_not_touched(tmp_path: Path) -> None:
    """Replacing the output moved it to `.<name>-old` first, deleting whatever had that name."""
    target = tmp_path / "out"
    write_tree(target, {"a.yaml": "a: 1\n"})
    precious = tmp_path / ".out-old"
    precious.mkdir()
    (precious / "data.txt").write_text("precious")
    write_tree(target, {"b.yaml": "b: 1\n"})
    assert (precious / "data.txt").read_text() == "precious"
    assert sorted(p.name for p in target.iterdir()) == [".mesh-components-output", "b.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out-old", "out"]


def test_an_output_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "out"
    link.symlink_to(real)
    with pytest.raises(OutputError, match=r"^\[output-symlink\] output .* is a symbolic link"):
        write_tree(link, {"a.yaml": "a: 1\n"})
    assert link.is_symlink() and list(real.iterdir()) == []


def test_saving_a_ca_file_through_a_link_updates_the_file_it_names(tmp_path: Path) -> None:
    real = tmp_path / "secrets" / "ca.secret.yaml"
    link = tmp_path / "ca.secret.yaml"
    state = ca_file.CaFile(current=ca_file.new_seed(datetime(2026, 1, 1, tzinfo=UTC)))
    ca_file.save(real, state)
    link.symlink_to(real)
    rotated = ca_file.CaFile(current=ca_file.new_seed(datetime(2026, 2, 1, tzinfo=UTC)))
    ca_file.save(link, rotated)
    assert link.is_symlink()
    assert ca_file.load(real) == rotated
