"""Warnings: declarations that are valid but probably not what the user meant.

A warning is a `Problem` like any other (code, path, expected, found, fix), but it never stops a
build: `validate` issues each one as a `SpecWarning` (Python's `warnings`, so every caller sees
it, and tests, where warnings are errors, must expect it). Today: port names one typo away from
a protocol prefix (`grcp-api`), which silently leaves the port HTTP, and workloads that run as
their namespace's `default` ServiceAccount, an identity every pod that names none shares.
"""

from __future__ import annotations

from collections.abc import Iterator

from mesh_components import names
from mesh_components.errors import Problem
from mesh_components.model import MeshSpec, Protocol, ServicePort
from mesh_components.model.service import PROTOCOL_HINTS, infer_protocol, name_protocol
from mesh_components.validate._common import Check, service_path, workload_path


class SpecWarning(UserWarning):
    """A declaration that is valid but probably a mistake; its text is the problem's."""


class MeshNote(SpecWarning):
    """Not a mistake: something the mesh did on the user's behalf that changes what they see
    (the app's metrics served on the sidecar's port). A SpecWarning, so every caller that
    shows spec warnings shows notes too; its text is one plain sentence."""


def port_name_near_misses(spec: MeshSpec) -> Iterator[Problem]:
    """A port whose name's prefix is a near miss of a protocol's (`grcp-api`, `tpc`, `tcpdb`)
    and which, because of it, speaks another protocol than the one the name was meant to."""
    for service in spec.services:
        for index, port in enumerate(service.ports):
            meant = _meant_prefix(port)
            if meant is not None:
                path = f"{service_path(service)}.ports[{index}].name"
                yield _near_miss(path, port, meant)


def _meant_prefix(port: ServicePort) -> str | None:
    """The protocol prefix the port's name was probably meant to start with, when the port
    does not speak that protocol; None when the name is fine, or too far from any prefix, or
    when the protocol was declared rather than taken from the name."""
    word = port.name.split("-", 1)[0]
    if port.protocol_declared or port.protocol is not infer_protocol(port.name, None):
        return None
    if name_protocol(port.name) is not None or not word:
        return None
    glued = max((p for p, _ in PROTOCOL_HINTS if word.startswith(p)), key=len, default="")
    distances = {p: 0 if p == glued else _distance(word, p) for p, _ in PROTOCOL_HINTS}
    close = {p: d for p, d in distances.items() if d <= _most_edits(p, word)}
    if not close:
        return None
    nearest = [p for p, d in close.items() if d == min(close.values())]
    # A name as close to what it gets as to anything else (`https`: http) means what it gets.
    if any(dict(PROTOCOL_HINTS)[p] is port.protocol for p in nearest):
        return None
    return max(nearest, key=len)


def _most_edits(prefix: str, word: str) -> int:
    """Typos tolerated: one, or two when both words are longer than 4 letters (half of `grep`
    differs from `grpc`); none in a word that lacks more than one of the prefix's letters."""
    if len(word) < len(prefix) - 1:
        return -1
    return 2 if min(len(prefix), len(word)) > 4 else 1


def _distance(a: str, b: str) -> int:
    """Edits from `a` to `b`: insertions, deletions, substitutions and swaps of two adjacent
    letters (`grcp` is one edit from `grpc`), the optimal string alignment distance."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def _near_miss(path: str, port: ServicePort, meant: str) -> Problem:
    word, _, rest = port.name.partition("-")
    tail = word[len(meant) :] if word.startswith(meant) else ""  # `tcpdb`: the '-' left out
    renamed = "-".join(part for part in (meant, tail, rest) if part)
    protocol = dict(PROTOCOL_HINTS)[meant]
    expected = f"a name starting with a protocol prefix ({_prefixes()}), or a declared protocol"
    found = f"{port.name!r}, close to {meant!r}, so the port is handled as {_label(port.protocol)}"
    fix = f"rename it to {renamed!r}, or declare `protocol: {protocol.value}`"
    return Problem(path, "port-name-near-miss", expected, found, fix)


def _prefixes() -> str:
    return ", ".join(f"{prefix}-" for prefix, _ in PROTOCOL_HINTS)


def _label(protocol: Protocol) -> str:
    return {Protocol.HTTP2: "HTTP/2", Protocol.GRPC: "gRPC"}.get(protocol, protocol.value.upper())


def shared_identities(spec: MeshSpec) -> Iterator[Problem]:
    """A workload that runs as its namespace's `default` ServiceAccount (a pod that names none
    does): meshed as OSM, Istio and Linkerd mesh it, under an identity it shares with every
    other such pod of the namespace, so no policy can tell them apart."""
    for workload in spec.workloads:
        if workload.service_account == names.DEFAULT_SERVICE_ACCOUNT:
            yield Problem(
                f"{workload_path(workload)}.serviceAccount",
                "workload-default-identity",
                "a ServiceAccount of its own (it is the workload's mesh identity)",
                f"{workload.namespace}/default, shared by every pod of {workload.namespace!r} "
                "that names no ServiceAccount",
                f"create a ServiceAccount for {workload.name!r} and set the pods' "
                "serviceAccountName to it",
            )


CODES = ("port-name-near-miss", "workload-default-identity")

CHECKS: tuple[Check, ...] = (port_name_near_misses, shared_identities)
