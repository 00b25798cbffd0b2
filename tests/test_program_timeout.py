"""A Pulumi program that never finishes is given up on, with a clear problem, not waited on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def test_a_program_that_never_finishes_is_given_up_on_after_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: stuck\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import threading\nthreading.Event().wait()\n")
    command = [sys.executable, "-m", "mesh_components", "render", str(tmp_path)]
    command += ["-o", str(tmp_path / "out"), "--timeout", "1.5"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert time.monotonic() - started < 20  # the interpreter's start, then 1.5 s
    assert done.returncode == 2
    assert "[program-timeout]" in done.stderr and "still running after 1.5 s" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_timeout_that_is_not_a_positive_number_is_refused_by_the_parser(tmp_path: Path) -> None:
    for given in ("0", "nan", "-1", "soon"):
        command = [sys.executable, "-m", "mesh_components", "render", str(tmp_path)]
        command += ["-o", str(tmp_path / "out"), "--timeout", given]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2 and "--timeout" in done.stderr, given
