"""Writes a set of generated files to a directory: complete, or not at all.

Files go to a temporary sibling directory first, which then replaces the target by two
renames (the target is absent for that instant: Linux cannot swap two directories from
Python). A target holding anything but our own earlier output is refused, so a typo never
wipes a user's folder: the marker file lists what was written, and a file that is not on the
list (a CA file kept there, say) stops the write instead of being deleted with the rest.
Staging directories that a killed run left behind (they hold private keys) are removed by the
next write to the same target.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from mesh_components.errors import MeshError

MARKER = ".mesh-components-output"
_MARKER_HEADER = "written by mesh_components; safe to replace"
_STAGING_MARKER = ".mesh-components-staging"


class OutputError(MeshError):
    """The output directory cannot be written as asked; `code` is stable, as a problem's is,
    and leads the message in brackets."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


def write_tree(target: Path, files: Mapping[str, str]) -> None:
    """Replace `target` with exactly `files` ({relative path: text})."""
    target = Path(os.path.abspath(target))
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        (staging / _STAGING_MARKER).write_text("")
        for relative, text in sorted(files.items()):
            path = staging / _relative(relative, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (staging / _STAGING_MARKER).unlink()
        listing = "".join(f"{relative}\n" for relative in sorted(files))
        (staging / MARKER).write_text(f"{_MARKER_HEADER}\n{listing}")
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(target: Path) -> None:
    """What a killed run left beside the target: a staging directory (its marker says so), or
    an old output that was being replaced (our output marker, under an `-old-` name)."""
    for stale in target.parent.glob(f".{target.name}-*"):
        staging = (stale / _STAGING_MARKER).is_file()
        replaced = stale.name.startswith(f".{target.name}-old-") and (stale / MARKER).is_file()
        if not stale.is_symlink() and (staging or replaced):
            shutil.rmtree(stale, ignore_errors=True)


def _relative(relative: str, target: Path) -> PurePosixPath:
    """`relative` as a path that stays inside the output, or an error: the last guard, behind
    the name checks, against a generated path that would write anywhere else on disk."""
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(p in {".", ".."} for p in path.parts):
        raise OutputError(
            "output-outside",
            f"refusing to write {relative!r}: it would land outside {target}. "
            "Fix: check the names of the objects written (metadata.name and metadata.namespace)",
        )
    return path


def _check_target(target: Path) -> None:
    if Path.cwd() == target or target in Path.cwd().parents:
        raise OutputError(
            "output-is-working-directory",
            f"output {target} is the current directory or holds it, and the output directory "
            "is replaced as a whole. Fix: pass a directory of its own, such as -o out",
        )
    if target.is_symlink():
        raise OutputError(
            "output-symlink",
            f"output {target} is a symbolic link, and the output directory is replaced as a "
            "whole. Fix: pass the directory it points to, or another one",
        )
    if target.exists() and not target.is_dir():
        raise OutputError(
            "output-not-directory",
            f"output {target} is a file; expected a directory. Fix: pass a directory",
        )
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise OutputError(
            "output-not-ours",
            f"output {target} is not empty and was not written by mesh_components. "
            "Fix: pass an empty or new directory",
        )
    foreign = _not_written_by_us(target)
    if foreign:
        raise OutputError(
            "output-holds-foreign-file",
            f"output {target} holds {foreign[0]}, which mesh_components did not write, and "
            "replacing the directory would delete it. Fix: move it out (a CA file belongs "
            "outside the output), or pass another directory",
        )


def _not_written_by_us(target: Path) -> list[str]:
    """Files in our earlier output that its marker does not list (none for an old marker
    without a listing)."""
    marker = target / MARKER
    if not marker.is_file():
        return []
    lines = marker.read_text().splitlines()
    if len(lines) <= 1:
        return []
    listed = {*lines[1:], MARKER}
    found = (path.relative_to(target).as_posix() for path in _entries(target))
    return sorted(path for path in found if path not in listed)


def _entries(root: Path) -> list[Path]:
    """Everything under `root` but directories (links included, never followed), walked
    without recursion: a directory nested thousands deep is no reason to crash."""
    found: list[Path] = []
    folders = [root]
    while folders:
        for entry in os.scandir(folders.pop()):
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
            else:
                found.append(Path(entry.path))
    return found


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    # A fresh name for the old output: a fixed one could be a directory of the user's.
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    target.rename(old)  # onto the empty directory mkdtemp made
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
