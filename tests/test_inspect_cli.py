"""The inspect verbs' command line: help with examples, exit codes, one-paragraph errors, graph
files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mesh_components.cli import main
from mesh_components.inspect import graph_formats
from tests.test_inspect_goldens import run_cli

ROOT = Path(__file__).resolve().parent.parent
BOOKSTORE = str(ROOT / "examples" / "bookstore")


@pytest.mark.parametrize("verb", ["proxy-config", "explain", "diff", "graph"])
def test_every_help_has_an_example(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([verb, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"python -m mesh_components {verb} " in out


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (f"proxy-config {BOOKSTORE} --workload bookstore/nope", "inspect-unknown-workload"),
        (f"proxy-config {BOOKSTORE} --workload bookstore", "inspect-unknown-workload"),
        (
            f"explain {BOOKSTORE} --from bookbuyer/bookbuyer --to bookstore.bookstore",
            "inspect-bad-target",
        ),
        (
            f"explain {BOOKSTORE} --from bookbuyer/bookbuyer --to bookstore:99999",
            "inspect-bad-target",
        ),
        (
            f"explain {BOOKSTORE} --from bookbuyer/bookbuyer --to b:1 --header nope",
            "inspect-bad-header",
        ),
        (f"diff {BOOKSTORE} /no/such/mesh", "inspect-source-unknown"),
        (f"graph {BOOKSTORE} -o mesh.png", "graph-unknown-format"),
    ],
)
def test_bad_input_is_one_problem_with_a_fix_and_exit_2(command: str, code: str) -> None:
    status, output = run_cli(command)
    assert status == 2
    assert f"[{code}]" in output
    assert "Fix: " in output
    assert "Traceback" not in output


def test_explain_exit_codes_follow_the_verdict() -> None:
    allowed = (
        f"explain {BOOKSTORE} --from bookwarehouse/bookwarehouse --to mysql.bookwarehouse:3306"
    )
    denied = f"explain {BOOKSTORE} --from bookthief/bookthief --to bookstore.bookstore:14001"
    assert run_cli(allowed)[0] == 0
    assert run_cli(denied)[0] == 1


def test_diff_exit_codes_follow_the_differences() -> None:
    changed = str(ROOT / "tests/goldens_inspect/inputs/bookstore-100-0")
    assert run_cli(f"diff {BOOKSTORE} {BOOKSTORE}")[0] == 0
    assert run_cli(f"diff {BOOKSTORE} {changed}")[0] == 1


def test_explain_and_diff_give_json(tmp_path: Path) -> None:
    status, output = run_cli(
        f"explain {BOOKSTORE} --from bookthief/bookthief --to bookstore.bookstore:14001 -o json"
    )
    assert status == 1
    assert '"verdict": "unroutable"' in output


@pytest.mark.parametrize("suffix", [".mmd", ".dot"])
def test_graph_writes_the_format_its_file_names(suffix: str, tmp_path: Path) -> None:
    target = tmp_path / f"mesh{suffix}"
    assert run_cli(f"graph {BOOKSTORE} -o {target}")[0] == 0
    text = target.read_text()
    signature, header = text.splitlines()[:2]  # the signature line comes first
    assert signature.endswith("drawn by mesh_components graph")
    assert header == ("flowchart LR" if suffix == ".mmd" else "digraph mesh {")
    assert "bookwarehouse" in text


def test_graph_replaces_its_own_drawing_but_no_other_file(tmp_path: Path) -> None:
    target = tmp_path / "mesh.mmd"
    assert run_cli(f"graph {BOOKSTORE} -o {target}")[0] == 0
    assert run_cli(f"graph {BOOKSTORE} -o {target}")[0] == 0
    kept = tmp_path / "ca.secret.dot"
    kept.write_text("seed: not a drawing\n")
    code, output = run_cli(f"graph {BOOKSTORE} -o {kept}")
    assert code == 2 and "[graph-output-exists]" in output
    assert kept.read_text() == "seed: not a drawing\n"


def test_graph_svg_is_drawn_by_graphviz(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed")
    target = tmp_path / "mesh.svg"
    assert run_cli(f"graph {BOOKSTORE} -o {target}")[0] == 0
    assert "<svg" in target.read_text()


def test_graph_svg_without_graphviz_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_formats.shutil, "which", lambda _: None)
    target = tmp_path / "mesh.svg"
    status, output = run_cli(f"graph {BOOKSTORE} -o {target}")
    assert status == 2
    assert "[graphviz-missing]" in output and "install Graphviz" in output
    assert not target.exists()


@pytest.mark.parametrize("case", sorted(p.name for p in (ROOT / "tests" / "goldens").iterdir()))
def test_every_inspect_verb_reads_every_golden_spec(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """graph crashed on meshes with egress, ingress or plaintext services (no SNI to draw)."""
    spec = str(ROOT / "tests" / "goldens" / case)
    assert main(["graph", spec]) == 0
    assert main(["graph", spec, "--format", "dot"]) == 0
    assert main(["diff", spec, spec]) == 0
    capsys.readouterr()
