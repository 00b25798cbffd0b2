"""One collection of the API server kept current here by list and watch, as client-go's
reflector keeps an informer's store.

The first list fills the store; a watch from its resourceVersion then applies each event. A
watch that ends (the server closes them every few minutes) is resumed from the last version
seen; one that is too old (410 Gone) or broken leads to a fresh list, whose difference from the
store is passed on as events, so a consumer never misses a change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mesh_components.local.control_plane.api import Api, ApiError, Json

Key = tuple[str, str]  # (namespace, name)
OnEvent = Callable[[str, Json], None]  # ("ADDED" | "MODIFIED" | "DELETED", object)
RETRY_AFTER = 1.0


class Informer:
    """The objects of `path` (a collection, with any field selector), kept in `items()`."""

    def __init__(self, api: Api, path: str, kind: str, on_event: OnEvent) -> None:
        self.api = api
        self.path = path
        self.kind = kind
        self.synced = threading.Event()
        self._on_event = on_event
        self._store: dict[Key, Json] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop applying events (an open watch ends when the server closes it)."""
        self._stopping.set()

    def items(self) -> list[Json]:
        with self._lock:
            return list(self._store.values())

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                version = self._list()
                while version and not self._stopping.is_set():
                    version = self._watch(version)
            except ApiError:
                pass  # The API server restarting, or gone: list again shortly.
            self._stopping.wait(RETRY_AFTER)

    def _list(self) -> str:
        answer = self.api.get(self.path)
        fresh = {_key(obj): self._typed(obj) for obj in answer.get("items") or []}
        with self._lock:
            old, self._store = self._store, fresh
        for key, obj in fresh.items():
            if key not in old:
                self._on_event("ADDED", obj)
            elif old[key]["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self._on_event("MODIFIED", obj)
        for key in old.keys() - fresh.keys():
            self._on_event("DELETED", old[key])
        self.synced.set()
        return str((answer.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        """Apply events until the stream ends; the version to resume from ("" to list again)."""
        for event in self.api.watch(self.path, version):
            if self._stopping.is_set():
                return ""
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                return ""
            version = str(obj.get("metadata", {}).get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            obj = self._typed(obj)
            with self._lock:
                if kind == "DELETED":
                    self._store.pop(_key(obj), None)
                else:
                    self._store[_key(obj)] = obj
            self._on_event(str(kind), obj)
        return version

    def _typed(self, obj: Json) -> Json:
        """List items carry no kind; events do. Every stored object has one."""
        obj["kind"] = self.kind
        return obj


def _key(obj: Json) -> Key:
    meta = obj["metadata"]
    return str(meta.get("namespace") or ""), str(meta["name"])


def wait_synced(informers: list[Informer], timeout: float) -> None:
    """Until every informer has listed once; raises naming those that did not."""
    deadline = time.monotonic() + timeout
    for informer in informers:
        if not informer.synced.wait(max(0.0, deadline - time.monotonic())):
            raise ApiError(0, f"could not list {informer.path} within {timeout:g} s")
