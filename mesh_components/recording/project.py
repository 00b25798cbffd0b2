"""A Pulumi project on disk: `Pulumi.yaml`, its name, and the program file the language host runs.

Only Python projects can be recorded: the program runs in this interpreter, like the Python
language host runs it (`runpy` on `main:`, by default the project directory's `__main__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.limits import MAX_INPUT_BYTES
from mesh_components.recording.documents import mapping, read_document

PROJECT_FILE = "Pulumi.yaml"


@dataclass(frozen=True)
class Project:
    """A Python Pulumi project: its name, root directory, program path and config schema."""

    name: str
    directory: Path
    program: Path
    config: dict[str, Any]

    @property
    def program_directory(self) -> Path:
        """The directory the program's sibling modules are imported from."""
        return self.program if self.program.is_dir() else self.program.parent


def is_project(path: Path) -> bool:
    """Whether `path` is a directory holding a Pulumi.yaml."""
    return path.is_dir() and (path / PROJECT_FILE).is_file()


def load_project(directory: Path) -> Project:
    """The project in `directory`, or every problem with its Pulumi.yaml."""
    directory = directory.resolve()
    file = directory / PROJECT_FILE
    fix = "give the directory of a Pulumi project (one holding Pulumi.yaml)"
    data = mapping(read_document(file, "a Pulumi.yaml", fix), str(file), "a mapping", fix)
    problems = []
    name = data.get("name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(f"{file}: name", "project-name", "a name", repr(name), "add one"))
    runtime = _runtime(data.get("runtime"))
    if runtime != "python":
        fix = "render records Python programs only; render a Python project or a mesh spec"
        found = repr(runtime)
        problems.append(Problem(f"{file}: runtime", "project-runtime", "python", found, fix))
    program = _program(directory, data.get("main"), file, problems if not problems else [])
    if problems:
        raise MeshValidationError(problems)
    config = mapping(data.get("config"), f"{file}: config", "a mapping", "fix Pulumi.yaml")
    return Project(str(name), directory, program, config)


def _runtime(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def _program(directory: Path, main: Any, file: Path, problems: list[Problem]) -> Path:
    """The program `main:` names (the project directory by default). It stays inside the
    project, as Pulumi resolves it: a `main:` of `../ca.secret.yaml` or of a file elsewhere on
    the machine would run that file as Python."""
    program = (directory / main).resolve() if isinstance(main, str) else directory
    entry = (program / "__main__.py").resolve() if program.is_dir() else program
    where = f"{file}: main"
    if not (program.is_relative_to(directory) and entry.is_relative_to(directory)):
        fix = "point `main:` at the program inside the project directory"
        problems.append(Problem(where, "project-program", "a path inside the project", main, fix))
    elif not entry.is_file() or entry.suffix != ".py":
        fix = "add __main__.py to the project, or point `main:` in Pulumi.yaml at the program"
        found = "no file" if not entry.exists() else "a file that is not a .py program"
        problems.append(Problem(where, "project-program", f"{entry} (Python)", found, fix))
    elif entry.stat().st_size > MAX_INPUT_BYTES:
        found = f"{entry.stat().st_size} bytes"
        expected = f"a program of at most {MAX_INPUT_BYTES} bytes"
        problems.append(Problem(where, "project-program", expected, found, "check the program"))
    return program
