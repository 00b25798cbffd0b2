"""Writes a set of generated files to a directory: complete, or not at all.

Files go to a temporary sibling directory first, which then replaces the target by two
renames (the target is absent for that instant: Linux cannot swap two directories from
Python). A target holding anything but our own earlier output is refused, so a typo never
wipes a user's folder.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from mesh_components.errors import MeshError

MARKER = ".mesh-components-output"


class OutputError(MeshError):
    """The output directory cannot be written as asked."""


def write_tree(target: Path, files: Mapping[str, str]) -> None:
    """Replace `target` with exactly `files` ({relative path: text})."""
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for relative, text in sorted(files.items()):
            path = staging / _relative(relative, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (staging / MARKER).write_text("written by mesh_components; safe to replace\n")
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _relative(relative: str, target: Path) -> PurePosixPath:
    """`relative` as a path that stays inside the output, or an error: the last guard, behind
    the name checks, against a generated path that would write anywhere else on disk."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(p in {".", ".."} for p in path.parts):
        raise OutputError(
            f"refusing to write {relative!r}: it would land outside {target}. "
            "Fix: check the names of the objects written (metadata.name and metadata.namespace)"
        )
    return path


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {target} is a file; expected a directory. Fix: pass a directory")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise OutputError(
            f"output {target} is not empty and was not written by mesh_components. "
            "Fix: pass an empty or new directory"
        )


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
