"""The example programs under the real Pulumi engine and Kubernetes provider (render mode): each
writes what `render` writes, and the composition's app stack reads the platform stack through a
real StackReference on the file backend, the two together writing what one stack would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine import ROOT, Workspace, objects, render, require_tools
from tests.test_pulumi_components import CA_TEXT

pytestmark = pytest.mark.engine

EXAMPLES = ROOT / "examples"
PLATFORM_STACK = "organization/mesh-platform/dev"  # the file backend's stack reference
SINGLE_STACK = '''"""The composition's platform and app declared in one stack, for comparison."""

import pulumi
import shop

from mesh_components.pulumi import Mesh

config = pulumi.Config()
SETTINGS = {"namespaces": ["shop"], "mtls": "strict", "access": "policy"}

with Mesh("shop", {**SETTINGS, "ca": config.require_secret("ca")}) as mesh:
    mesh.auto_inject()
    shop.declare(mesh)
'''


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    require_tools()
    return Workspace(tmp_path / "engine")


def _up(workspace: Workspace, project: Path, out: Path, **config: str) -> dict[Any, Any]:
    result = workspace.run("up", project, config=config, secrets={"ca": CA_TEXT}, render_to=out)
    assert result.ok, result.output
    return objects(out / "1-manifest")


def _up_app(workspace: Workspace, out: Path) -> dict[Any, Any]:
    """`up` of the composition's app stack, reading the platform through its StackReference."""
    result = workspace.run(
        "up",
        EXAMPLES / "composition" / "app",
        config={"platformStack": PLATFORM_STACK},
        render_to=out,
    )
    assert result.ok, result.output
    return objects(out / "1-manifest")


@pytest.mark.parametrize(("example", "config"), [("canary", {"canaryWeight": "10"}), ("tcp", {})])
def test_the_example_writes_under_the_engine_what_render_writes(
    example: str, config: dict[str, str], workspace: Workspace, tmp_path: Path
) -> None:
    project = EXAMPLES / example
    written = _up(workspace, project, tmp_path / "up", **config)
    rendered = render(project, tmp_path / "render", ca=CA_TEXT, **config)
    assert written == rendered
    assert any(kind == "ConfigMap" for kind, _, _ in written)


def test_composed_stacks_write_what_one_stack_writes(workspace: Workspace, tmp_path: Path) -> None:
    platform = _up(workspace, EXAMPLES / "composition" / "platform", tmp_path / "platform")
    app = _up_app(workspace, tmp_path / "app")
    assert not platform.keys() & app.keys()
    assert [kind for kind, _, _ in platform] == ["Namespace"]

    single = tmp_path / "single"
    single.mkdir()
    (single / "Pulumi.yaml").write_text("name: mesh-shop-single\nruntime: python\n")
    (single / "__main__.py").write_text(SINGLE_STACK)
    shutil.copy(EXAMPLES / "composition" / "app" / "shop.py", single / "shop.py")
    assert {**platform, **app} == _up(workspace, single, tmp_path / "single-out")


def test_the_app_stack_renders_offline_what_the_engine_writes(
    workspace: Workspace, tmp_path: Path
) -> None:
    """`render` with the platform's rendered outputs as the stack reference agrees too."""
    _up(workspace, EXAMPLES / "composition" / "platform", tmp_path / "platform")
    app = _up_app(workspace, tmp_path / "app")
    outputs = tmp_path / "platform-render"
    render(EXAMPLES / "composition" / "platform", outputs, ca=CA_TEXT)
    exported = json.loads((outputs / "stack-outputs").read_text())
    assert set(exported["outputs"]) == {"declarations", "ca", "caBundle"}
    rendered = _render_with_reference(tmp_path, outputs / "stack-outputs")
    assert app == rendered


def _render_with_reference(tmp_path: Path, outputs: Path) -> dict[Any, Any]:
    out = tmp_path / "app-render"
    command = [sys.executable, "-m", "mesh_components", "render"]
    command += [str(EXAMPLES / "composition" / "app"), "-o", str(out)]
    command += [f"--config=platformStack={PLATFORM_STACK}"]
    command += [f"--stack-reference={PLATFORM_STACK}={outputs}"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    return objects(out)


PLATFORM_POLICY = """
from mesh_components.pulumi import AccessPolicy

with Mesh("shop", {**SETTINGS, "ca": config.require_secret("ca")}) as mesh:
    AccessPolicy(
        "frontend-posts-orders",
        {
            "namespace": "shop",
            "destination": {"service": "api"},
            "sources": [{"service_account": "frontend"}],
            "http": [{"methods": ["POST"], "path": {"prefix": "/orders"}}],
        },
    )
"""


def test_a_policy_added_in_the_platform_shows_in_the_apps_next_preview(
    workspace: Workspace, tmp_path: Path
) -> None:
    platform = tmp_path / "platform"
    shutil.copytree(EXAMPLES / "composition" / "platform", platform)
    _up(workspace, platform, tmp_path / "platform-out")
    _up_app(workspace, tmp_path / "app")
    source = (platform / "__main__.py").read_text()
    declared = source.replace(
        'with Mesh("shop", {**SETTINGS, "ca": config.require_secret("ca")}) as mesh:\n    pass\n',
        PLATFORM_POLICY,
    )
    assert declared != source
    (platform / "__main__.py").write_text(declared)
    _up(workspace, platform, tmp_path / "platform-out")
    preview = workspace.run(
        "preview",
        EXAMPLES / "composition" / "app",
        config={"platformStack": PLATFORM_STACK},
        render_to=tmp_path / "app",
        flags=("--json",),
    )
    assert preview.ok, preview.output
    changed = {
        urn.rsplit("::", 1)[1]: op
        for urn, op in preview.changed().items()
        if op != "read"  # the StackReference reads the platform's outputs on every run
    }
    assert changed == {"shop/api-mesh-proxy": "replace", "api": "update"}
