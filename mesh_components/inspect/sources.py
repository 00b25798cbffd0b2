"""`load_mesh(path)`: the one way the inspect tools read a mesh, whatever PATH holds.

Each kind of source is one (detector, loader) pair in `_SOURCES`, tried in order: a Pulumi
project, a spec, a render directory. `REV:path` reads `path` as it was at git revision REV.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.inspect import render_dir
from mesh_components.inspect.model import InspectedMesh, Proxy
from mesh_components.limits import MAX_GIT_ARCHIVE_BYTES
from mesh_components.pipeline.build import build
from mesh_components.pipeline.specfile import SPEC_FILE, read_spec
from mesh_components.pki import ca_file

_PULUMI_PROJECT = "Pulumi.yaml"
_CA_CONFIG_KEY = "ca"
"""The config key the root program and the examples read their CA from (as `render`)."""


def load_mesh(path: str) -> InspectedMesh:
    """Every sidecar config of the mesh at `path`: a spec file, a directory holding mesh.yaml,
    a render directory, a Pulumi project, or `REV:path` for one of those at a git revision."""
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
    """A Pulumi project, run under mocks as `render` runs it (stack `dev` and its config), with
    a throwaway CA: the proxy configs `pulumi up` would deploy. The throwaway certificates are
    left out, so nothing shown or diffed depends on them."""
    # Imported here: it imports pulumi, which the other sources do not need.
    from mesh_components.recording import Severity, kubernetes_objects, record  # noqa: PLC0415
    from mesh_components.recording.manifests import plain_object  # noqa: PLC0415

    throwaway = ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC)))
    recording = record(path, config={_CA_CONFIG_KEY: ca_file.text_of(throwaway)})
    errors = [m.message for m in recording.log if m.severity is Severity.ERROR]
    if errors:
        fix = f"run `python -m mesh_components render {path} -o DIR` to see the program's log"
        expected = "a program that logs no error"
        found = "; ".join(errors)
        raise MeshValidationError(
            [Problem(str(path), "inspect-program-failed", expected, found, fix)]
        )
    documents = [plain_object(found) for found in kubernetes_objects(recording)]
    mesh = render_dir.from_documents(documents, f"Pulumi project {path}")
    proxies = tuple(dataclasses.replace(proxy, certificate=None) for proxy in mesh.proxies)
    return InspectedMesh(source=mesh.source, proxies=proxies)


# A directory holding both Pulumi.yaml and mesh.yaml is a Pulumi project, as for `render`.
_SOURCES: tuple[tuple[Callable[[Path], bool], Callable[[Path], InspectedMesh]], ...] = (
    (_is_pulumi_project, _from_pulumi),
    (_is_spec, _from_spec),
    (render_dir.is_render_dir, render_dir.load),
)


def _unknown_source(path: str) -> MeshValidationError:
    exists = Path(path).exists()
    found = (
        "a directory with no mesh.yaml, Pulumi.yaml or proxy ConfigMaps"
        if exists
        else "no such path"
    )
    fix = (
        "pass a spec file, a directory holding mesh.yaml, a Pulumi project, a directory "
        "written by `python -m mesh_components render`, or REV:path for one of them in git"
    )
    expected = "a mesh spec, a Pulumi project or a render directory"
    return MeshValidationError([Problem(path, "inspect-source-unknown", expected, found, fix)])


def _from_git(spec: str) -> InspectedMesh:
    """`REV:path`: the tree of `path` at REV, extracted to a temporary directory and loaded."""
    revision, _, relative = spec.partition(":")
    parts = PurePosixPath(relative).parts
    if revision.startswith("-") or PurePosixPath(relative).is_absolute() or ".." in parts:
        # git would read `-...` as an option (`--output=FILE` writes a file), and the path is
        # joined to a scratch directory: both must be what they claim to be.
        raise _git_problem(spec, "a revision that starts with '-', or a path outside the tree")
    command = ["archive", "--format=tar", revision, "--", relative or "."]
    with tempfile.TemporaryDirectory(prefix="mesh-inspect-") as scratch:
        archive, tree = Path(scratch) / "archive.tar", Path(scratch) / "tree"
        _archive(command, spec, archive)
        _extract(archive, tree, spec)
        archive.unlink()
        mesh = load_mesh(str(tree / relative))
    return dataclasses.replace(mesh, source=spec)


_CHUNK = 1024 * 1024
_MAX_GIT_ERROR = 4096  # bytes of git's error output that a problem quotes
_NARROWER = "name the mesh's own directory or spec file as the path, not a larger tree"


def _archive(arguments: list[str], spec: str, into: Path) -> None:
    """`git archive`'s tar streamed to `into`, refused past MAX_GIT_ARCHIVE_BYTES: a revision
    could hold a file of gigabytes, which would otherwise fill memory and the disk."""
    with tempfile.TemporaryFile() as errors, into.open("wb") as out:
        try:
            process = subprocess.Popen(["git", *arguments], stdout=subprocess.PIPE, stderr=errors)
        except OSError as error:
            raise _git_problem(spec, f"git could not run ({error.strerror})") from None
        with process:
            assert process.stdout is not None  # stdout=PIPE
            if not _copy_bounded(process.stdout, out):
                process.kill()
                found = f"a tree of more than {MAX_GIT_ARCHIVE_BYTES} bytes"
                raise _git_problem(spec, found, _NARROWER)
        if process.returncode != 0:
            errors.seek(0)
            raise _git_problem(spec, errors.read(_MAX_GIT_ERROR).decode(errors="replace").strip())


def _copy_bounded(source: IO[bytes], out: IO[bytes]) -> bool:
    """Copy `source` to `out`; False, having stopped, once it holds more than the limit."""
    copied = 0
    while chunk := source.read(_CHUNK):
        copied += len(chunk)
        if copied > MAX_GIT_ARCHIVE_BYTES:
            return False
        out.write(chunk)
    return True


def _extract(archive: Path, tree: Path, spec: str) -> None:
    """The tar's files under `tree`. tarfile's `data` filter refuses a member that would land
    outside it: a committed link to /etc/passwd or to ../../etc, an absolute path."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
    except tarfile.TarError as error:
        found = f"a tree that cannot be extracted safely ({error})"
        fix = "remove what leaves the tree (a link out of it), or name a path without one"
        raise _git_problem(spec, found, fix) from None


def _git_problem(spec: str, found: str, fix: str = "") -> MeshValidationError:
    fix = fix or (
        "run inside the git repository, and check the revision and the path "
        "(relative to the current directory)"
    )
    return MeshValidationError(
        [Problem(spec, "inspect-git-unreadable", "REV:path readable with git", found, fix)]
    )
