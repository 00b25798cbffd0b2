"""The resource monitor a recorded program talks to: Pulumi's mock monitor, answering with
real-engine URNs and handing every registration to a `Session`.

The stock mock prefixes every URN with the root stack's type and hides the parent from
`Mocks.new_resource`; this one builds URNs as the engine does (`parent$child`, nothing for the
stack) and keeps the parent, the provider and exact secret paths. It also collects the outputs
the program registers (the stack's exports among them) and what it logs.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import engine_pb2, resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from mesh_components.recording.properties import Properties, decode, encode
from mesh_components.recording.recording import LogMessage, Severity

if TYPE_CHECKING:
    from mesh_components.recording.session import Session

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
_SEVERITIES = {
    engine_pb2.DEBUG: Severity.DEBUG,
    engine_pb2.INFO: Severity.INFO,
    engine_pb2.WARNING: Severity.WARNING,
    engine_pb2.ERROR: Severity.ERROR,
}


class _Invokes(Mocks):
    """Provider functions: none is emulated, so each call is a problem of the session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        self._session.unsupported_invoke(args.token)
        return {}, None

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        raise AssertionError("RecordingMonitor registers resources itself")


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor with engine-shaped URNs, reporting to a `Session`."""

    def __init__(self, session: Session) -> None:
        super().__init__(_Invokes(session))
        self.session = session
        self.stack_urn = ""
        self._lock = threading.Lock()
        self._loops: set[asyncio.AbstractEventLoop] = set()

    def urn(self, parent: str, type_: str, name: str) -> str:
        """The engine's URN: the parent's qualified type, except the root stack's, then ours."""
        qualified = type_
        if parent and parent != self.stack_urn:
            qualified = f"{parent.split('::')[2]}${type_}"
        return f"urn:pulumi:{self.session.stack}::{self.session.project}::{qualified}::{name}"

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        self._thread_loop()
        urn = self.urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE and not request.parent:
            self.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        id_, outputs = self.session.register(
            urn=urn,
            type_=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            provider=request.provider or None,
            inputs=decode(request.object),
            remote=bool(request.remote),
            transforms=len(request.transforms),
        )
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=id_, object=self._remember(urn, id_, outputs)
        )

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        self._thread_loop()
        urn = self.urn(request.parent, request.type, request.name)
        outputs = self.session.read(urn=urn, type_=request.type, id_=request.id)
        return resource_pb2.ReadResourceResponse(
            urn=urn, properties=self._remember(urn, request.id, outputs)
        )

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self._thread_loop()
        outputs = decode(request.outputs)
        if request.urn == self.stack_urn:
            self.session.exports = outputs
        else:
            self.session.component_outputs(request.urn, outputs)
        return empty_pb2.Empty()

    def RegisterStackTransform(self, request: Any) -> Any:  # noqa: N802
        self.session.stack_transform()
        return super().RegisterStackTransform(request)  # type: ignore[no-untyped-call]

    def Invoke(self, request: Any) -> Any:  # noqa: N802
        self._thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def close_thread_loops(self) -> None:
        """Close the event loop each worker thread needed to (de)serialize: the mock monitor
        opens them and never closes them. Call once the run's executor has shut down."""
        with self._lock:
            loops, self._loops = self._loops, set()
        for loop in loops:
            if not loop.is_running() and not loop.is_closed():
                loop.close()

    def _remember(self, urn: str, id_: str, outputs: Properties) -> Any:
        wire = encode(outputs)
        with self._lock:
            self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, wire)
        return _sync_await(rpc.serialize_properties(wire, {}))

    def _thread_loop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            return  # the run's own loop, which the run closes
        loop: asyncio.AbstractEventLoop = _ensure_event_loop()  # type: ignore[no-untyped-call]
        with self._lock:
            self._loops.add(loop)


class RecordingLog:
    """The engine's log service: keeps what the program logs through `pulumi.log`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[LogMessage] = []

    def Log(self, request: Any) -> Any:  # noqa: N802
        severity = _SEVERITIES.get(request.severity, Severity.INFO)
        if severity is Severity.DEBUG:
            return empty_pb2.Empty()  # the SDK's own chatter
        with self._lock:
            self.messages.append(LogMessage(severity, request.message, request.urn))
        return empty_pb2.Empty()
