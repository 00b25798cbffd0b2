"""`load_mesh(path)`: the one way the inspect tools read a mesh, whatever PATH holds.

Each kind of source is one (detector, loader) pair in `_SOURCES`, tried in order, so adding
Pulumi projects later is one more pair. `REV:path` reads `path` as it was at git revision REV.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect import render_dir
from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.pipeline import build
from mesh_components.specfile import SPEC_FILE, read_spec

_PULUMI_PROJECT = "Pulumi.yaml"


def load_mesh(path: str) -> InspectedMesh:
    """Every sidecar config of the mesh at `path`: a spec file, a directory holding mesh.yaml,
    a render directory, or `REV:path` for one of those at a git revision."""
    local = Path(path)
    if not local.exists() and ":" in path:
        return _from_git(path)
    for detects, loads in _SOURCES:
        if detects(local):
            return loads(local)
    raise _unknown_source(path)


def _is_spec(path: Path) -> bool:
    return path.is_file() or (path / SPEC_FILE).is_file()


def _is_pulumi_project(path: Path) -> bool:
    return (path / _PULUMI_PROJECT).is_file()


def _from_spec(path: Path) -> InspectedMesh:
    compiled = build(read_spec(path))
    proxies = tuple(
        Proxy(
            workload=item.plan.workload,
            spiffe_id=item.plan.spiffe_id,
            listeners=item.envoy.listeners,
            clusters=item.envoy.clusters,
            secrets=item.envoy.secrets,
            bootstrap=item.envoy.bootstrap,
        )
        for item in compiled.workloads
    )
    return InspectedMesh(source=f"spec {path}", proxies=proxies)


def _from_pulumi(path: Path) -> InspectedMesh:
    fix = (
        "point at the spec the program reads, or render it first "
        f"(python -m mesh_components render SPEC -o DIR) and inspect DIR; {path} is a Pulumi "
        "project"
    )
    problem = Problem(
        str(path),
        "inspect-source-unsupported",
        "a spec or a render directory",
        "a Pulumi project",
        fix,
    )
    raise MeshValidationError([problem])


_SOURCES: tuple[tuple[Callable[[Path], bool], Callable[[Path], InspectedMesh]], ...] = (
    (_is_spec, _from_spec),
    (render_dir.is_render_dir, render_dir.load),
    (_is_pulumi_project, _from_pulumi),
)


def _unknown_source(path: str) -> MeshValidationError:
    exists = Path(path).exists()
    found = "a directory with neither mesh.yaml nor proxy ConfigMaps" if exists else "no such path"
    fix = (
        "pass a spec file, a directory holding mesh.yaml, a directory written by "
        "`python -m mesh_components render`, or REV:path for one of them in git"
    )
    expected = "a mesh spec or a render directory"
    return MeshValidationError([Problem(path, "inspect-source-unknown", expected, found, fix)])


def _from_git(spec: str) -> InspectedMesh:
    """`REV:path`: the tree of `path` at REV, extracted to a temporary directory and loaded."""
    revision, _, relative = spec.partition(":")
    archive = _git(["archive", "--format=tar", revision, "--", relative or "."], spec)
    with tempfile.TemporaryDirectory(prefix="mesh-inspect-") as scratch:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        mesh = load_mesh(str(Path(scratch) / relative))
    return InspectedMesh(
        source=f"{spec}", proxies=mesh.proxies, ca_fingerprints=mesh.ca_fingerprints
    )


def _git(arguments: list[str], spec: str) -> bytes:
    try:
        done = subprocess.run(["git", *arguments], capture_output=True, check=False)
    except OSError as error:
        raise _git_problem(spec, f"git could not run ({error.strerror})") from None
    if done.returncode != 0:
        raise _git_problem(spec, done.stderr.decode(errors="replace").strip())
    return done.stdout


def _git_problem(spec: str, found: str) -> MeshValidationError:
    fix = (
        "run inside the git repository, and check the revision and the path "
        "(relative to the current directory)"
    )
    return MeshValidationError(
        [Problem(spec, "inspect-git-unreadable", "REV:path readable with git", found, fix)]
    )
