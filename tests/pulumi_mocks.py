"""Run a Pulumi program function under mocks and keep every resource it registered.

Each run gets a fresh context (Pulumi keeps its root stack in a ContextVar) and event loop, so
runs do not leak into each other. Values are read after every RPC finished: tests assert on
resolved inputs, never inside an `apply`.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import ipaddress
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as pulumi_config
from pulumi.runtime.rpc import unwrap_rpc_secret
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import wait_for_rpcs

from mesh_components.pulumi import Mesh

_SERVICE_NET = ipaddress.ip_network("10.96.0.0/16")


@dataclass
class Registered:
    type_: str
    name: str
    inputs: dict[str, Any]
    secret_keys: frozenset[str]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    preview: bool = False
    stack_references: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        secrets = frozenset(k for k, v in args.inputs.items() if unwrap_rpc_secret(v) is not v)
        inputs = {k: _plain(unwrap_rpc_secret(v)) for k, v in args.inputs.items()}
        self.resources.append(Registered(args.typ, args.name, inputs, secrets))
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs.get("name", args.name)
            return f"{name}-id", {"name": name, "outputs": self.stack_references[name]}
        if args.typ == "kubernetes:core/v1:Service" and not self.preview:
            spec = dict(outputs.get("spec") or {})
            if spec.get("clusterIP") != "None":
                spec["clusterIP"] = str(_SERVICE_NET[len(self.resources)])
            outputs["spec"] = spec
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, type_: str) -> dict[str, Registered]:
        return {r.name: r for r in self.resources if r.type_ == type_}


def run(
    program: Callable[[], Any],
    *,
    preview: bool = False,
    stack_references: dict[str, dict[str, Any]] | None = None,
) -> Recorder:
    """Run `program` under mocks; re-raise what it raised. `stack_references` gives the
    outputs of the stacks the program references, by stack name."""
    recorder = Recorder(preview=preview, stack_references=stack_references or {})

    def body() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pulumi.runtime.set_mocks(recorder, preview=preview)
            program()
            loop.run_until_complete(wait_for_rpcs())
        finally:
            pending = asyncio.all_tasks(loop)  # left by a program that raised
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            with SETTINGS.lock:  # tracked Outputs of this run must not reach the next one
                SETTINGS.outputs.clear()
            loop.close()
            asyncio.set_event_loop(None)
            _close_worker_loops()

    contextvars.Context().run(body)
    return recorder


def _close_worker_loops() -> None:
    """Pulumi's mock monitor gives each of its worker threads an event loop and never closes
    it; close them, so every test ends with no open loop or socket."""
    for found in gc.get_objects():
        loop = found if isinstance(found, asyncio.AbstractEventLoop) else None
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()


def _plain(value: Any) -> Any:
    """Wire values as the API would see them: whole floats back to ints, secrets unwrapped."""
    value = unwrap_rpc_secret(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def project_program(
    directory: Path,
    *,
    config: dict[str, str] | None = None,
    secret: tuple[str, ...] = ("ca",),
    now: datetime | None = None,
) -> Callable[[], None]:
    """A Pulumi project's `__main__.py` as a program function, with stack config (`secret`
    keys are Pulumi secrets) and, when given, the instant its meshes issue certificates for."""

    def program() -> None:
        values = {f"project:{key}": value for key, value in (config or {}).items()}
        pulumi_config.set_all_config(values, [f"project:{key}" for key in secret])
        original = Mesh.__init__

        def at_now(self: Mesh, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **{**kwargs, "now": now or kwargs.get("now")})

        before = set(sys.modules)
        sys.path.insert(0, str(directory))
        Mesh.__init__ = at_now  # type: ignore[method-assign]
        try:
            runpy.run_path(str(directory / "__main__.py"), run_name="__main__")
        finally:
            Mesh.__init__ = original  # type: ignore[method-assign]
            sys.path.remove(str(directory))
            for name in set(sys.modules) - before:  # the project's own modules
                if str(getattr(sys.modules[name], "__file__", "")).startswith(str(directory)):
                    del sys.modules[name]

    return program
