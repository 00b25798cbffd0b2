"""`examples/yaml` under the real engine: the Pulumi YAML language host that `make tools` builds
runs the program, the engine constructs MeshFromSpec in the plugin in `provider/` (an
executable on PATH), and the objects equal those of a Python program declaring the same mesh.
A mistake comes back as Pulumi's property errors, with the problem's path and no traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine import ROOT, Result, Workspace, objects, require_tools
from tests.test_pulumi_components import CA_TEXT

pytestmark = pytest.mark.engine

PLUGIN = ROOT / "provider"
PYTHON_PROGRAM = '''"""The mesh of examples/yaml, declared in Python."""

import pulumi

from mesh_components.pulumi import MeshFromSpec

config = pulumi.Config()
MeshFromSpec(
    "shop",
    {
        "mesh": {"name": "shop", "namespaces": ["shop"], "ca": config.require_secret("ca")},
        "services": [
            {
                "name": "api",
                "namespace": "shop",
                "selector": {"app": "api"},
                "ports": [{"name": "http", "port": 80, "target_port": 8080}],
            }
        ],
        "workloads": [
            {
                "name": "api",
                "namespace": "shop",
                "service_account": "api",
                "image": "ghcr.io/example/api:1.0",
                "labels": {"app": "api"},
                "ports": [{"container_port": 8080}],
            },
            {
                "name": "frontend",
                "namespace": "shop",
                "service_account": "frontend",
                "image": "ghcr.io/example/frontend:1.0",
                "labels": {"app": "frontend"},
            },
        ],
        "policies": [
            {
                "name": "frontend-to-api",
                "namespace": "shop",
                "destination": {"service": "api"},
                "sources": [{"service_account": "frontend"}],
            }
        ],
    },
)
'''


def _yaml_program(tmp_path: Path, edit: Any = None) -> Path:
    """examples/yaml without its `packages` entry: that one makes the CLI run provider/ through
    Pulumi's Python language host, which cannot be built here; the plugin is found on PATH."""
    program = yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())
    assert program.pop("packages") == {"mesh-components": "../../provider"}
    if edit is not None:
        edit(program)
    project = tmp_path / "yaml-program"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))
    return project


def _run_yaml(workspace: Workspace, project: Path, out: Path) -> Result:
    return workspace.run(
        "up",
        project,
        secrets={"ca": CA_TEXT},
        render_to=out,
        flags=("--local",),
        path=(PLUGIN, Path(sys.executable).parent),
    )


def test_the_yaml_program_writes_what_the_same_mesh_in_python_writes(tmp_path: Path) -> None:
    require_tools()
    workspace = Workspace(tmp_path / "engine")
    result = _run_yaml(workspace, _yaml_program(tmp_path), tmp_path / "yaml-out")
    assert result.ok, result.output
    from_yaml = objects(tmp_path / "yaml-out" / "1-manifest")

    python = tmp_path / "python-program"
    python.mkdir()
    (python / "Pulumi.yaml").write_text("name: mesh-yaml-in-python\nruntime: python\n")
    (python / "__main__.py").write_text(PYTHON_PROGRAM)
    done = workspace.run("up", python, secrets={"ca": CA_TEXT}, render_to=tmp_path / "py-out")
    assert done.ok, done.output
    assert from_yaml == objects(tmp_path / "py-out" / "1-manifest")
    kinds = sorted(kind for kind, _, _ in from_yaml)
    assert kinds.count("ConfigMap") == 2 and kinds.count("Secret") == 2


def test_a_mistake_in_the_yaml_program_is_a_property_error_without_traceback(
    tmp_path: Path,
) -> None:
    require_tools()

    def misspell(program: dict[str, Any]) -> None:
        # The YAML host checks property names against the plugin's schema itself; a source
        # identity that no workload uses is the mesh's to find.
        policy = program["resources"]["shop"]["properties"]["policies"][0]
        policy["sources"] = [{"serviceAccount": "frontnd"}]

    project = _yaml_program(tmp_path, misspell)
    result = _run_yaml(Workspace(tmp_path / "engine"), project, tmp_path / "out")
    assert not result.ok
    assert "policies[shop/frontend-to-api].sources[0]" in result.output
    assert "[policy-unknown-identity]" in result.output
    assert "Traceback" not in result.output
    assert 'File "' not in result.output
