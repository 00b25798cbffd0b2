"""`explain` decides RBAC the way Envoy does: the emitted RBAC rules of the bookstore and of the
route-rules case run in a real Envoy and in `rbac_eval`, over a matrix of requests, and agree.

Envoy judges principals from client certificates; here each `authenticated` principal becomes
the same matcher on a test header, so one plaintext listener can play every caller.
"""

from __future__ import annotations

import copy
import http.client
import itertools
from pathlib import Path

import pytest

from mesh_components import yamltext
from mesh_components.emit.envoy.types import HTTP_CONNECTION_MANAGER, Json
from mesh_components.inspect import envoy_read as read
from mesh_components.inspect import load_mesh
from mesh_components.inspect.matching import normalized_path
from mesh_components.inspect.rbac_eval import Subject, decide
from mesh_components.model import WorkloadRef
from tests.envoy_tool import free_ports, running_envoy

ROOT = Path(__file__).resolve().parent.parent
PRINCIPAL_HEADER = "x-test-principal"

CALLERS = (
    "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer",
    "spiffe://cluster.local/ns/bookthief/sa/bookthief",
    "spiffe://cluster.local/ns/store/sa/browser",
    "spiffe://cluster.local/ns/ops/sa/admin",
)
PATHS = (
    "/books-bought",
    "/books-bought?page=2",
    "/buy-a-book/new",
    "/x/../buy-a-book%2Fnew",
    "//items//7/price",
    "/items/7/price",
    "/items/x/price",
    "/items/",
    "/search",
    "/search/more",
)
METHODS = ("GET", "PUT", "HEAD")
HEADER_SETS = (
    (),
    (("client-app", "bookbuyer"), ("user-agent", "go-http-client/1.1")),
    (("x-client", "browser-v12"),),
    (("x-client", "browser-v1x"),),
)


def _chain(case: str, workload: WorkloadRef, chain_name: str) -> Json:
    proxy = load_mesh(str(ROOT / case)).proxy(workload)
    assert proxy is not None
    inbound = next(listener for listener in proxy.listeners if listener["name"] == "inbound")
    found: Json = next(c for c in inbound["filter_chains"] if c["name"] == chain_name)
    return found


CHAINS = {
    "bookstore": _chain(
        "examples/bookstore",
        WorkloadRef("bookstore", "bookstore-v1"),
        "inbound|bookstore/bookstore-v1|14001",
    ),
    "route-rules": _chain(
        "tests/goldens/policy-route-rules",
        WorkloadRef("store", "catalog"),
        "inbound|store/catalog|8080",
    ),
}


def _by_header(rules: Json) -> Json:
    """The same rules, with each certificate principal matched on the test header instead."""
    moved = copy.deepcopy(rules)
    for policy in moved.get("policies", {}).values():
        policy["principals"] = [
            {
                "header": {
                    "name": PRINCIPAL_HEADER,
                    "string_match": p["authenticated"]["principal_name"],
                }
            }
            for p in policy["principals"]
        ]
    return moved


def _bootstrap(chain: Json, port: int, admin_port: int) -> Json:
    """One plaintext listener with the chain's connection manager settings and RBAC filter,
    answering 200 to whatever RBAC lets through."""
    manager = copy.deepcopy(read.http_manager(chain))
    assert manager is not None
    rbac = next(f for f in manager["http_filters"] if f["name"] == "envoy.filters.http.rbac")
    rbac["typed_config"]["rules"] = _by_header(rbac["typed_config"]["rules"])
    manager["route_config"] = {
        "name": "allowed",
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
            }
        ],
    }
    manager.pop("set_current_client_cert_details", None)
    listener = {
        "name": "rbac",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": HTTP_CONNECTION_MANAGER.name, "typed_config": manager}]}
        ],
    }
    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return {"admin": admin, "static_resources": {"listeners": [listener]}}


def _envoy_status(port: int, method: str, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.envoy
@pytest.mark.parametrize("case", sorted(CHAINS))
def test_explain_and_a_real_envoy_agree_on_every_request(case: str, tmp_path: Path) -> None:
    chain = CHAINS[case]
    manager = read.http_manager(chain)
    rules = read.rbac_rules(chain)
    assert manager is not None and rules is not None
    port, admin_port = free_ports(2)
    bootstrap = tmp_path / "bootstrap.yaml"
    bootstrap.write_text(yamltext.dump(_bootstrap(chain, port, admin_port), sort_keys=True))
    disagreements = []
    allowed = 0
    with running_envoy(bootstrap, admin_port, tmp_path / "envoy.log"):
        for caller, path, method, extra in itertools.product(CALLERS, PATHS, METHODS, HEADER_SETS):
            headers = {**dict(extra), PRINCIPAL_HEADER: caller}
            seen = normalized_path(path, manager)
            ours = decide(
                rules, Subject(caller, {**headers, ":method": method, ":path": seen})
            ).allowed
            status = _envoy_status(port, method, path, headers)
            assert status in (200, 403), (path, status)
            allowed += ours
            if ours != (status == 200):
                disagreements.append((caller, method, path, extra, status))
    assert not disagreements
    assert allowed > 0, "the matrix should contain allowed requests as well as denied ones"
