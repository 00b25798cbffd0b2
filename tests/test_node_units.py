"""The node's pure parts, without root or an API server: which workload owns a pod, the volume
made for a claim, and how an informer turns a fresh list into the events it missed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mesh_components.local.control_plane.api import ApiError
from mesh_components.local.control_plane.informer import Informer
from mesh_components.local.control_plane.node import PROVISIONED, _volume_for, workload_of


def test_a_pod_names_the_workload_that_owns_it() -> None:
    def owned(kind: str, name: str, **labels: str) -> dict[str, Any]:
        owner = {"kind": kind, "name": name, "controller": True}
        return {"name": "x", "ownerReferences": [owner], "labels": labels}

    replica_set = owned("ReplicaSet", "bookbuyer-65fc8dbf64", **{"pod-template-hash": "65fc8dbf64"})
    assert workload_of(replica_set) == "Deployment/bookbuyer"
    assert workload_of(owned("ReplicaSet", "bare-rs")) == "ReplicaSet/bare-rs"
    assert workload_of(owned("StatefulSet", "mysql")) == "StatefulSet/mysql"
    assert workload_of({"name": "lonely"}) == "Pod/lonely"


def test_a_claim_nothing_binds_gets_a_volume_bound_to_it_in_advance() -> None:
    claim = {
        "metadata": {"name": "data-mysql-0", "namespace": "bookwarehouse", "uid": "u-1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "250M"}}},
    }
    volume = _volume_for(claim, Path("/run/mesh-local/dev/claims"))
    assert volume["metadata"] == {"name": "pvc-u-1", "labels": {PROVISIONED: "u-1"}}
    spec = volume["spec"]
    assert spec["capacity"] == {"storage": "250M"} and spec["storageClassName"] == ""
    assert spec["claimRef"]["uid"] == "u-1" and spec["claimRef"]["name"] == "data-mysql-0"
    assert spec["hostPath"]["path"] == "/run/mesh-local/dev/claims/u-1"


class _Lists:
    """An API whose list answers are given in turn and whose watches end at once."""

    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)

    def get(self, path: str) -> dict[str, Any]:
        if not self.answers:
            raise ApiError(0, "no more answers")
        return {"metadata": {"resourceVersion": "7"}, "items": self.answers.pop(0)}

    def watch(self, path: str, version: str) -> Iterator[dict[str, Any]]:
        return iter([{"type": "ERROR", "object": {"code": 410}}])  # too old: list again


def _item(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}}


def test_a_fresh_list_is_passed_on_as_the_events_the_watch_missed() -> None:
    events: list[tuple[str, str]] = []
    api = _Lists([_item("a", "1"), _item("b", "1")], [_item("b", "2"), _item("c", "1")])
    informer = Informer(
        api,  # type: ignore[arg-type]
        "/api/v1/things",
        "Thing",
        lambda event, obj: events.append((event, obj["metadata"]["name"])),
    )
    assert informer._list() == "7"
    assert informer._watch("7") == ""  # a 410: list again
    informer._list()
    assert events == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "b"),
        ("ADDED", "c"),
        ("DELETED", "a"),
    ]
    assert sorted(o["metadata"]["name"] for o in informer.items()) == ["b", "c"]
    assert {o["kind"] for o in informer.items()} == {"Thing"}  # list items carry none
    assert informer.synced.is_set()
