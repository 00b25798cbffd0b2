"""How a recorded program's failure is reported: as the program's error, never our traceback.

    MeshError
    ├── MeshValidationError   config, stack references, or what render cannot emulate
    └── ProgramError          the program itself raised

A `pulumi.RunError` is a clean failure: its message only. Config errors and mesh problems
become problems with a fix. Anything else keeps the program's own frames, as `pulumi up` would.
"""

from __future__ import annotations

import traceback
from collections.abc import Collection
from pathlib import Path

import pulumi
from pulumi.config import ConfigMissingError, ConfigTypeError

from mesh_components.errors import MeshError, MeshValidationError, Problem
from mesh_components.terminal.redact import redact


class ProgramError(MeshError):
    """The Pulumi program raised. `trace` holds its own frames ("" for a RunError)."""

    def __init__(self, message: str, trace: str = "") -> None:
        self.message = message
        self.trace = trace
        super().__init__(f"the program failed: {message}" + (f"\n{trace}" if trace else ""))


def program_error(
    error: BaseException, program_directory: Path, stack: str, secrets: Collection[str] = ()
) -> MeshError:
    """What to report for an exception that ended the program; `secrets` (the stack's secret
    config values) never appear in it, and neither do CA seeds or private keys."""
    if isinstance(error, MeshError):
        return error.with_traceback(None)
    problems = getattr(error, "problems", None)
    if isinstance(error, pulumi.RunError) and isinstance(problems, tuple) and problems:
        return MeshValidationError(p for p in problems if isinstance(p, Problem))
    if isinstance(error, ConfigMissingError | ConfigTypeError):
        return MeshValidationError([_config_problem(error, stack)])
    if isinstance(error, pulumi.RunError):
        return ProgramError(redact(str(error), secrets))
    if isinstance(error, SystemExit):
        return ProgramError(f"it called sys.exit({error.code!r})")
    message = redact(f"{type(error).__name__}: {error}", secrets)
    return ProgramError(message, redact(_program_frames(error, program_directory), secrets))


def _config_problem(error: ConfigMissingError | ConfigTypeError, stack: str) -> Problem:
    key = error.key
    short = key.split(":", 1)[1] if ":" in key else key
    fix = f"pass --config {short}=VALUE, or set it in Pulumi.{stack}.yaml"
    if isinstance(error, ConfigMissingError):
        return Problem(f"config[{key}]", "config-missing", "a value", "none", fix)
    # The value itself stays out of the message: the key may hold a secret.
    found = f"a value that is not a valid {error.expect_type}"
    return Problem(f"config[{key}]", "config-type", f"a {error.expect_type}", found, fix)


def _program_frames(error: BaseException, directory: Path) -> str:
    """The traceback, keeping the frames in the program's own files. None when it has none
    (the SDK raised inside a callback): the SDK's and our frames would only bury the message."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if _inside(f.filename, directory)]
    if not own:
        return ""
    shown = traceback.StackSummary.from_list(own)
    return "Traceback (the program's frames):\n" + "".join(shown.format()).rstrip()


def _inside(filename: str, directory: Path) -> bool:
    """Whether a frame's file is one of the program's (`<frozen runpy>` is no file at all)."""
    path = Path(filename)
    return path.is_absolute() and path.resolve().is_relative_to(directory)
