"""A mistake in a component argument ends `pulumi preview` under the real engine quickly, with the
problem's code, path and fix in Pulumi's diagnostics and no traceback; `render` of the same
program does the same. Before, a pending Output kept both waiting forever."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine import ROOT, Workspace, require_tools
from tests.test_pulumi_components import CA_TEXT

# (what the user wrote in the root program, what they meant, the problem's code and path)
MISTAKES = {
    "typo": (
        '"selector": selector, "ports"',
        '"selectr": selector, "ports"',
        "spec-unknown-key",
        "services[bookstore].selectr",
    ),
    "wrong-type": (
        '{"name": "bookstore-port", "port": 14001}',
        '{"name": "bookstore-port", "port": "fourteen-thousand"}',
        "spec-wrong-type",
        "services[bookstore].ports[bookstore-port].port",
    ),
    "unknown-identity": (
        '"destination": {"service_account": "mysql"}',
        '"destination": {"service_account": "mysql-primary"}',
        "policy-unknown-identity",
        "policies[bookwarehouse/mysql].destination",
    ),
}


def _mistaken_program(tmp_path: Path, mistake: str) -> Path:
    meant, written, _, _ = MISTAKES[mistake]
    source = (ROOT / "__main__.py").read_text()
    assert source.count(meant) >= 1, meant
    project = tmp_path / "program"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "__main__.py").write_text(source.replace(meant, written, 1))
    return project


@pytest.mark.engine
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_ends_pulumi_preview_with_the_problem_and_no_traceback(
    mistake: str, tmp_path: Path
) -> None:
    require_tools()
    project = _mistaken_program(tmp_path, mistake)
    _, _, code, path = MISTAKES[mistake]
    preview = Workspace(tmp_path / "engine").run(
        "preview", project, secrets={"ca": CA_TEXT}, render_to=tmp_path / "out", timeout=60
    )
    assert not preview.ok
    assert preview.seconds < 10, preview.seconds
    assert f"[{code}]" in preview.output
    assert path in preview.output
    assert "Fix:" in preview.output
    assert "Traceback" not in preview.output


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_ends_render_with_the_problem_and_no_traceback(
    mistake: str, tmp_path: Path
) -> None:
    project = _mistaken_program(tmp_path, mistake)
    _, _, code, path = MISTAKES[mistake]
    command = [sys.executable, "-m", "mesh_components", "render", str(project)]
    command += ["-o", str(tmp_path / "out"), f"--config=ca={CA_TEXT}"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert time.monotonic() - started < 10
    assert done.returncode == 2, done.stderr
    assert f"[{code}]" in done.stderr
    assert path in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
