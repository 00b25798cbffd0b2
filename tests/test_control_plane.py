"""A real control plane (etcd, kube-apiserver, controller manager, scheduler from `make tools`)
takes what `render` writes: server-side apply of every object, admission included.

No node runs here, so pods are created and wait to be scheduled: what is proven is that the
API server, with ServiceAccount admission and its validation of native sidecars, and the
controllers accept the mesh's objects. tests/test_cluster_e2e.py runs them on the node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.cli import main
from mesh_components.local.control_plane import ApiError, ControlPlane, start
from mesh_components.local.control_plane.plane import BINARIES
from mesh_components.local.layout import Layout

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools" / "bin"


def _require_tools() -> None:
    missing = [name for name in (*BINARIES, "kubectl") if not (TOOLS / name).is_file()]
    if not missing:
        return
    reason = f"{', '.join(missing)} not built: run `make tools`"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the control-plane tests)")
    pytest.skip(reason)


def _running(root: Path) -> Iterator[ControlPlane]:
    _require_tools()
    layout = Layout("cptest", root=root)
    running = start(layout)
    try:
        yield running
    finally:
        assert running.stop() == len(BINARIES)
        shutil.rmtree(layout.state)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from _running(tmp_path_factory.mktemp("state"))


def _kubectl(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(TOOLS / "kubectl"), "--kubeconfig", str(plane.kubeconfig), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _render(source: Path, out: Path, *extra: str) -> Path:
    ca = out.parent / f"{out.name}-ca.secret.yaml"
    assert (
        main(["render", str(source), "-o", str(out), "--ca-file", str(ca), "--new-ca", *extra]) == 0
    )
    return out


def _items(plane: ControlPlane, kind: str, namespace: str) -> list[dict[str, Any]]:
    done = _kubectl(plane, "get", kind, "-n", namespace, "-o", "json")
    assert done.returncode == 0, done.stderr
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items


def test_the_control_plane_serves_with_its_controllers_running(plane: ControlPlane) -> None:
    version = plane.api().get("/version")
    assert version["gitVersion"] == "v1.37.2"
    account = plane.api().get("/api/v1/namespaces/default/serviceaccounts/default")
    assert account["metadata"]["name"] == "default"


def test_every_object_of_the_bookstore_render_is_applied_server_side(
    plane: ControlPlane, tmp_path: Path
) -> None:
    rendered = _render(ROOT / "examples" / "bookstore", tmp_path / "bookstore")
    files = sorted(p for p in rendered.rglob("*.yaml"))
    done = _kubectl(plane, "apply", "--server-side", "-R", "-f", str(rendered))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("serverside-applied") == sum(
        f.read_text().count("\nkind: ") + f.read_text().startswith("kind: ") for f in files
    )
    # The controllers made each Deployment's pod, with its native sidecar, through admission.
    pods = _items(plane, "pods", "bookbuyer")
    (pod,) = pods
    (init,) = [c for c in pod["spec"]["initContainers"] if c.get("restartPolicy") == "Always"]
    assert init["name"] == names.PROXY_CONTAINER
    assert pod["spec"]["serviceAccountName"] == "bookbuyer"


def test_a_pod_whose_service_account_does_not_exist_is_refused(plane: ControlPlane) -> None:
    _kubectl(plane, "create", "namespace", "orphans")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "orphans"},
        "spec": {"serviceAccountName": "nobody", "containers": [{"name": "a", "image": "x"}]},
    }
    with pytest.raises(ApiError) as refused:
        plane.api().request("POST", "/api/v1/namespaces/orphans/pods", pod)
    assert refused.value.status == 403 and 'serviceaccount "nobody" not found' in str(refused.value)
