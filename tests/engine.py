"""The real Pulumi engine for tests: the CLI and Kubernetes provider that `make tools` builds, a
file backend in a temporary directory, and the provider's render mode instead of a cluster.

    workspace = Workspace(tmp_path)
    result = workspace.run("up", ROOT, config={...}, secrets={"ca": CA_TEXT}, render_to=out)
    objects(out)  # {(kind, namespace, name): object} of what the provider wrote

Each operation runs `tests/engine_driver.py` in its own process (a program's Pulumi runtime is
global state), under a time limit, and returns what the CLI printed and the steps it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
TOOLS = ROOT / ".tools"
DRIVER = Path(__file__).parent / "engine_driver.py"
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
RENDER_KEY = "kubernetes:renderYamlToDirectory"


def require_tools() -> None:
    """Skip, saying why, when `make tools` has not run; in CI that is a failure."""
    if (TOOLS / "bin" / "pulumi").is_file() and (
        TOOLS / "bin" / "pulumi-resource-kubernetes"
    ).is_file():
        return
    reason = "the Pulumi CLI and Kubernetes provider are not built: run `make tools`"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the engine tests)")
    pytest.skip(reason)


@dataclass
class Result:
    """One CLI operation: did it succeed, what it printed, how long it took (`seconds`, the
    whole process; `program_seconds`, the program's top-level code, where the mesh compiles)."""

    ok: bool
    stdout: str
    stderr: str
    changes: dict[str, int]
    seconds: float
    returncode: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    program_seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def changed(self) -> dict[str, str]:
        """{urn: op} of every step that is not `same` (from a `--json` preview)."""
        return {step["urn"]: step["op"] for step in self.steps if step["op"] != "same"}


class Workspace:
    """A file backend and a work directory per project, shared by the stacks of one test."""

    def __init__(self, root: Path, **variables: str) -> None:
        """`variables`: more of the CLI's environment (PULUMI_SKIP_CHECKPOINTS, say)."""
        self.root = root
        self.variables = variables
        (root / "state").mkdir(parents=True, exist_ok=True)
        (root / "home").mkdir(exist_ok=True)

    def env(
        self, *, clock_offset: str | None = None, path: tuple[Path, ...] = ()
    ) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULUMI_", "KUBE")) and key != "LD_PRELOAD"
        }
        env.update(
            PATH=os.pathsep.join([*map(str, path), str(TOOLS / "bin"), env.get("PATH", "")]),
            PULUMI_TOOLS_ROOT=str(TOOLS),
            # Programs may import from the checkout (bench/pulumi_program imports bench).
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            PULUMI_HOME=str(self.root / "home"),
            PULUMI_BACKEND_URL=f"file://{self.root / 'state'}",
            PULUMI_CONFIG_PASSPHRASE="engine-tests-only",
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            # No cluster: the provider renders. An empty KUBECONFIG and HOME keep it from
            # finding one by accident.
            KUBECONFIG=str(self.root / "no-kubeconfig"),
            HOME=str(self.root / "home"),
        )
        env.update(self.variables)
        if clock_offset is not None:
            env.update(LD_PRELOAD=str(FAKETIME), FAKETIME=clock_offset)
        return env

    def run(
        self,
        operation: str,
        project: Path,
        *,
        stack: str = "dev",
        config: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        render_to: Path | None = None,
        flags: tuple[str, ...] = (),
        clock_offset: str | None = None,
        path: tuple[Path, ...] = (),
        timeout: float = 300,
    ) -> Result:
        """`pulumi OPERATION` of PROJECT's stack, with exactly this stack config."""
        work = self.root / "work" / f"{project.name}-{stack}"
        result_file = self.root / f"result-{time.monotonic_ns()}.json"
        command = [sys.executable, str(DRIVER), operation, "--project", str(project)]
        command += ["--stack", stack, "--work", str(work), "--result", str(result_file)]
        settings = dict(config or {})
        if render_to is not None:
            settings[RENDER_KEY] = str(render_to)
        command += [f"--config={key}={value}" for key, value in settings.items()]
        for key, value in (secrets or {}).items():
            secret_file = self.root / f"secret-{key.replace(':', '-')}"
            secret_file.write_text(value)
            command.append(f"--secret={key}=@{secret_file}")
        command += list(flags)
        started = time.monotonic()
        completed = subprocess.run(
            command,
            env=self.env(clock_offset=clock_offset, path=path),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        return _result(completed, result_file, seconds)


def _result(completed: subprocess.CompletedProcess[str], path: Path, seconds: float) -> Result:
    if not path.exists():
        return Result(False, completed.stdout, completed.stderr, {}, seconds, completed.returncode)
    found = json.loads(path.read_text())
    steps = []
    if found["stdout"].lstrip().startswith("{"):
        steps = json.loads(found["stdout"]).get("steps", [])
    return Result(
        found["ok"],
        found["stdout"],
        found["stderr"] + completed.stderr,
        found["changes"],
        seconds,
        completed.returncode,
        steps,
        found.get("program_seconds", 0.0),
    )


def objects(directory: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every Kubernetes object in the YAML files below DIRECTORY, by (kind, namespace, name)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(directory.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            metadata = document["metadata"]
            key = (document["kind"], metadata.get("namespace", ""), metadata["name"])
            assert key not in found, f"{key} is written twice"
            found[key] = document
    return found


def render(project: Path, out: Path, **config: str) -> dict[tuple[str, str, str], Any]:
    """What `python -m mesh_components render PROJECT` writes, as objects."""
    command = [sys.executable, "-m", "mesh_components", "render", str(project), "-o", str(out)]
    command += [f"--config={key}={value}" for key, value in config.items()]
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, timeout=300)
    return objects(out)
