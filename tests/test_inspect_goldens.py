"""Golden outputs of `proxy-config`, `explain`, `diff` and `graph` on the bookstore and other
golden cases, listed in `tests/goldens_inspect/cases.txt`. Each golden file starts with the
command line and its exit code.

Regenerate with `pytest tests/test_inspect_goldens.py --update-goldens` (stale files deleted).
"""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from mesh_components.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = ROOT / "tests" / "goldens_inspect"
CASES_FILE = GOLDENS / "cases.txt"


def _cases() -> dict[str, str]:
    """`name: arguments` lines; `#` starts a comment."""
    lines = CASES_FILE.read_text().splitlines()
    pairs = [line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name: command for name, command in pairs}


CASES = _cases()


def run_cli(command: str) -> tuple[int, str]:
    """The exit code and what the CLI printed (stdout, then stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(shlex.split(command))
    return code, stdout.getvalue() + stderr.getvalue()


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the commands, and so in the goldens, are relative to the repository."""
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("case", sorted(CASES))
def test_inspect_output_matches_its_golden_file(case: str, update_goldens: bool) -> None:
    code, output = run_cli(CASES[case])
    actual = f"$ python -m mesh_components {CASES[case]}\n# exit {code}\n{output}"
    golden = GOLDENS / f"{case}.txt"
    if update_goldens:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert golden.read_text() == actual, f"{case} differs: run with --update-goldens and review"


def test_no_stale_golden_files(update_goldens: bool) -> None:
    expected = {GOLDENS / f"{case}.txt" for case in CASES} | {CASES_FILE}
    stale = [path for path in GOLDENS.rglob("*.txt") if path not in expected]
    if update_goldens:
        for path in stale:
            path.unlink()
        stale = []
    assert not stale, f"stale golden files (run --update-goldens): {stale}"


def test_the_cases_cover_every_command_on_the_bookstore_and_three_other_cases() -> None:
    for command in ("proxy-config", "explain", "diff", "graph"):
        sources = {c.split()[1] for c in CASES.values() if c.split()[0] == command}
        assert "examples/bookstore" in sources
        assert len(sources - {"examples/bookstore"}) >= 3, command
