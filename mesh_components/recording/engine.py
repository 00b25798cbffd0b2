"""`record`: run a Pulumi Python program in-process against a mock engine and keep everything
it registered.

The program runs as the Python language host runs it: `runpy` on the program inside
`pulumi.runtime.run_in_stack`, so the root Stack collects `pulumi.export`s and the
`pulumi.run(entrypoint)` is awaited after the module code. Each call runs in its own thread,
context and event loop, with freshly reset runtime settings, and afterwards takes the
program's modules back out of `sys.modules`: two calls in one process give identical results.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import runpy
import sys
import sysconfig
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockSettings
from pulumi.runtime.stack import run_in_stack

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.limits import PROGRAM_TIMEOUT
from mesh_components.recording import stack_outputs
from mesh_components.recording.config import (
    GuardedConfig,
    StackConfig,
    secure_problem,
    stack_config,
)
from mesh_components.recording.errors import program_error
from mesh_components.recording.monitor import RecordingLog, RecordingMonitor
from mesh_components.recording.project import Project, load_project
from mesh_components.recording.recording import Recording
from mesh_components.recording.session import Session

ORGANIZATION = "organization"  # what `pulumi.get_organization()` answers, as under set_mocks
_EMPTY: Mapping[str, Any] = {}


def record(
    project_dir: Path,
    *,
    stack: str = "dev",
    config: Mapping[str, str] = _EMPTY,
    preview: bool = False,
    stack_references: Mapping[str, Path] = _EMPTY,
    timeout: float = PROGRAM_TIMEOUT,
) -> Recording:
    """Run the Pulumi project in `project_dir` as stack `stack` and record it.

    `config` overrides the stack's config (`key` or `namespace:key` to a string value).
    `stack_references` maps each stack name the program references to a file of its outputs
    (see `stack_outputs`). With `preview`, `pulumi.runtime.is_dry_run()` is true and what the
    engine cannot know before an update (allocated ClusterIPs, ids) is unknown.
    """
    project = load_project(Path(project_dir))
    values = stack_config(project, stack, config)
    references = {name: stack_outputs.load(name, Path(f)) for name, f in stack_references.items()}
    session = Session(
        project=project.name,
        stack=stack,
        preview=preview,
        stack_references=references,
        config_namespace=values.values.get("kubernetes:namespace"),
    )
    outcome: dict[str, Any] = {}
    # A thread of its own: a fresh context (the root stack lives in a ContextVar) and an event
    # loop that is nobody else's.
    runner = threading.Thread(
        target=_run, args=(project, values, session, outcome), name="mesh-recording", daemon=True
    )
    with _no_unawaited_warnings():
        runner.start()
        runner.join(timeout)
        if runner.is_alive():  # a daemon thread: it ends with the process
            raise _still_running(project, timeout)
        # The run's leftovers, failed or not, while their warning is silenced: an Output's
        # coroutine that nothing awaited would otherwise warn in whatever runs next.
        gc.collect()
    session.raise_problems()  # what could not be emulated explains most program failures
    if "error" in outcome:
        raise outcome["error"]
    log: RecordingLog = outcome["log"]
    return Recording(
        project.name, stack, preview, session.resources(), session.exports, tuple(log.messages)
    )


def _still_running(project: Project, timeout: float) -> MeshValidationError:
    fix = (
        "find what it waits for (an Output that never resolves, input(), a network call), "
        "or give it longer with `render --timeout SECONDS`"
    )
    found = f"still running after {timeout:g} s"
    expected = "a program that finishes"
    where = str(project.program_directory)
    return MeshValidationError([Problem(where, "program-timeout", expected, found, fix)])


def _run(project: Project, values: StackConfig, session: Session, outcome: dict[str, Any]) -> None:
    log = RecordingLog()
    outcome["log"] = log
    monitor = RecordingMonitor(session)
    _configure(project, values, session, monitor, log)
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # failures surface from run_in_stack
    asyncio.set_event_loop(loop)
    try:
        with _program_environment(project):
            loop.run_until_complete(run_in_stack(lambda: _run_program(project)))
    except (Exception, SystemExit) as error:
        # Reported now, so nothing keeps the failed program's frames (and its Outputs) alive.
        secrets = [values.values[key] for key in values.secret_keys if key in values.values]
        directory = project.program_directory.resolve()
        outcome["error"] = program_error(error, directory, session.stack, secrets)
    finally:
        _shut_down(loop)
        monitor.close_thread_loops()
        _release_runtime_state()


def _release_runtime_state() -> None:
    """Empty what the runtime settings hold. Pulumi keeps the first value a fresh context
    assigns as the process-wide default, so this run's Outputs and RPCs would otherwise stay
    reachable (and be collected, with warnings, during whatever runs next)."""
    with settings.SETTINGS.lock:
        settings.SETTINGS.outputs.clear()
    settings.SETTINGS.rpc_manager.clear()


@contextlib.contextmanager
def _no_unawaited_warnings() -> Iterator[None]:
    """Silence one warning while a program runs: when it fails, the SDK leaves coroutines for
    Outputs that nothing awaits any more, and Python warns about each as it goes. The language
    host hides the same noise (it silences asyncio's logger)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        yield


def _run_program(project: Project) -> None:
    runpy.run_path(str(project.program), run_name="__main__")


def _configure(
    project: Project,
    values: StackConfig,
    session: Session,
    monitor: RecordingMonitor,
    log: RecordingLog,
) -> None:
    """Fresh runtime settings for this thread's context, as `set_mocks` makes them, minus the
    root Stack it would create and finish (which would close `pulumi.run`)."""
    settings.reset_options(
        project=project.name,
        stack=session.stack,
        root_directory=str(project.directory),
        preview=session.preview,
        organization=ORGANIZATION,
    )
    info = monitor.GetDeploymentInfo(empty_pb2.Empty())  # type: ignore[no-untyped-call]
    MockSettings(  # type: ignore[no-untyped-call]
        monitor=monitor,
        monitor_features=set(info.supportedFeatures),
        engine=log,
        project=project.name,
        stack=session.stack,
        dry_run=session.preview,
        organization=ORGANIZATION,
        root_directory=str(project.directory),
        callbacks=None,
    )

    def secure_read(key: str) -> MeshValidationError:
        problem = secure_problem(key, values, project.name)
        session.problem(problem)
        return MeshValidationError([problem])

    pulumi_config.set_all_config({}, sorted(values.secret_keys))
    pulumi_config.CONFIG.set(GuardedConfig(values, secure_read))


@contextlib.contextmanager
def _program_environment(project: Project) -> Iterator[None]:
    """The process state a program expects: the project directory as working directory, the
    program's directory first on sys.path, its own argv. Afterwards, the modules it imported
    from its own directory are dropped, so the next run imports them afresh."""
    home = project.program_directory.resolve()
    saved_cwd, saved_argv, saved_path = os.getcwd(), sys.argv, list(sys.path)
    before = set(sys.modules)
    os.chdir(project.directory)
    sys.argv = [str(project.program)]
    sys.path.insert(0, str(home))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        _forget_modules(set(sys.modules) - before, before, home)


def _forget_modules(new: set[str], before: set[str], home: Path) -> None:
    """Drop the program's own modules: new top-level modules (and their submodules) loaded
    from its directory. A library that lives there too (this package, for the root program)
    was imported before the run and stays; so does one installed in a virtualenv inside the
    directory (pulumi_kubernetes, re-imported, would register its package twice and fail)."""
    for name in new:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if name.split(".")[0] in before or not file:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(home) and not any(path.is_relative_to(s) for s in _SITE_PACKAGES):
            del sys.modules[name]


_SITE_PACKAGES = tuple({Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")})


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed program left behind, then close the loop and its executor."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    asyncio.set_event_loop(None)
    loop.close()
