"""Traps a new user of the Pulumi components fell into (issue 16): a program that declares no
ServiceAccount gets the ones `render` writes and never two for one; a camelCase or misspelt
argument key is one clear problem naming the field to use; and a mistake in any component's
arguments ends the program, as the language host runs it, within 2 s (a subprocess with a
timeout, so a hang fails the test instead of stalling it). Assertions are on resolved inputs."""

from __future__ import annotations

import asyncio
import contextvars
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
from pulumi.runtime.settings import SETTINGS, configure
from pulumi.runtime.stack import run_in_stack

from mesh_components.model.loader import load_spec
from mesh_components.pipeline.render import render
from mesh_components.pulumi import (
    AccessPolicy,
    DestinationSettings,
    EgressRule,
    Mesh,
    MeshFromSpec,
    MeshIngress,
    MeshProgramError,
    MeshService,
    TrafficSplit,
)
from tests.pulumi_mocks import Recorder, run
from tests.test_pulumi_components import (
    CA_TEXT,
    NOW,
    WEB_PORTS,
    deployment,
    failure,
    root_program,
    shop,
)
from tests.test_pulumi_whole_mesh import BOOKSTORE, whole_mesh
from tests.test_render import make_ca

ROOT = Path(__file__).parents[1]
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECONDS = 2.0
"""How soon a mistake in a component's arguments must end the program (issue 16)."""


def accounts(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    """Every ServiceAccount registered, as (resource name, inputs): a list, so a second
    registration of one name shows."""
    return [(r.name, r.inputs) for r in recorder.resources if r.type_ == ACCOUNT]


def rendered_account(namespace: str, name: str) -> dict[str, Any]:
    """The ServiceAccount `render` writes for a workload running as `namespace/name`."""
    workload = {"name": name, "namespace": namespace, "serviceAccount": name, "image": "nginx"}
    spec = load_spec({"mesh": {"name": "shop"}, "workloads": [workload]})
    (found,) = [o for o in render(spec, make_ca(), NOW).objects if o["kind"] == "ServiceAccount"]
    return found


# ServiceAccounts.


def test_the_mesh_creates_the_service_account_render_writes_for_each_injected_identity() -> None:
    recorder = run(shop(lambda _: (deployment("web"), deployment("client"))))
    found = accounts(recorder)
    assert sorted(name for name, _ in found) == ["shop/client", "shop/web"]
    for name, inputs in found:
        assert inputs == rendered_account("shop", name.split("/")[1]), name


def pod_template(account: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {"serviceAccountName": account, "containers": [{"name": "app", "image": "x"}]},
    }


def explicitly_injected(mesh: Mesh) -> None:
    spec = {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template("web", app="web")}
    metadata = {"name": "web", "namespace": "shop"}
    k8s.apps.v1.Deployment("web", **mesh.inject("web", "Deployment", metadata, spec))


def test_explicit_injection_in_cert_manager_mode_gets_its_service_account_too() -> None:
    def program() -> None:
        certificates = {"issuer": "cert-manager", "issuer_ref": {"name": "mesh-ca"}}
        args: Any = {"namespaces": ["shop"], "certificates": certificates}
        with Mesh("shop", args, now=NOW) as mesh:
            explicitly_injected(mesh)

    assert [name for name, _ in accounts(run(program))] == ["shop/web"]


def test_a_workload_injected_both_ways_is_a_problem_not_a_traceback() -> None:
    error = failure(shop(explicitly_injected))
    assert error.codes == ("workload-field-not-plain",)
    assert "not both" in str(error)


def test_two_workloads_of_one_identity_get_one_service_account() -> None:
    def shared(_: Mesh) -> None:
        deployment("web")
        canary = {"selector": {"matchLabels": {"track": "canary"}}}
        canary["template"] = pod_template("web", app="web", track="canary")
        k8s.apps.v1.Deployment("canary", metadata={"namespace": "shop"}, spec=canary)

    recorder = run(shop(shared))
    assert [name for name, _ in accounts(recorder)] == ["shop/web"]
    assert len(recorder.of_type("kubernetes:core/v1:ConfigMap")) == 2


@pytest.mark.parametrize("typed", [False, True], ids=["dict", "ObjectMetaArgs"])
def test_a_service_account_the_program_declares_is_not_created_twice(typed: bool) -> None:
    def body(mesh: Mesh) -> None:
        metadata: Any = {"name": "web", "namespace": "shop"}
        if typed:
            metadata = k8s.meta.v1.ObjectMetaArgs(name="web", namespace="shop")
        k8s.core.v1.ServiceAccount("web-account", metadata=metadata, opts=mesh.in_namespace("shop"))
        deployment("web")
        deployment("client")

    found = dict(accounts(run(shop(body))))
    assert sorted(found) == ["shop/client", "web-account"]
    assert found["web-account"]["metadata"] == {"name": "web", "namespace": "shop"}


def test_an_identitys_secret_is_created_after_its_service_account() -> None:
    """Pods mount the Secret, so they wait for the ServiceAccount too (Pulumi's dependency
    graph; mocks record no dependencies, so they are read from the Secrets' options)."""
    waits_for: dict[str, set[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == "kubernetes:core/v1:Secret":
            found = args.opts.depends_on
            waits_for[args.name] = {r._name for r in found if isinstance(r, pulumi.Resource)}

    def body(mesh: Mesh) -> None:
        k8s.core.v1.ServiceAccount("web-account", metadata={"name": "web", "namespace": "shop"})
        deployment("web")
        deployment("client")

    def program() -> None:
        pulumi.runtime.register_stack_transformation(record)
        shop(body)()

    run(program)
    assert waits_for == {
        "shop/web-mesh-identity": {"shop", "web-account"},
        "shop/client-mesh-identity": {"shop", "shop/client"},
    }


def test_the_root_program_and_the_whole_mesh_component_make_each_service_account_once() -> None:
    for recorder in (run(root_program()), whole_mesh(BOOKSTORE)):
        names = [name for name, _ in accounts(recorder)]
        assert len(names) == 6
        assert len(set(names)) == 6


def test_a_service_account_the_mesh_cannot_see_is_declared_to_it() -> None:
    def program() -> None:
        made = k8s.core.v1.ServiceAccount("early", metadata={"name": "web", "namespace": "shop"})
        with Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW) as mesh:
            mesh.auto_inject()
            mesh.declare_service_account("shop", "web", made)
            MeshService(
                "web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS}
            )
            deployment("web")

    assert [name for name, _ in accounts(run(program))] == ["early"]


def test_create_service_accounts_false_leaves_them_to_the_program() -> None:
    recorder = run(shop(lambda _: deployment("web"), create_service_accounts=False))
    assert accounts(recorder) == []
    assert recorder.of_type("kubernetes:core/v1:Secret")  # the identity is still issued


def test_a_service_account_declared_after_the_mesh_made_it_is_refused() -> None:
    def program() -> None:
        shop(lambda _: deployment("web"))()
        k8s.core.v1.ServiceAccount("late", metadata={"name": "web", "namespace": "shop"})

    error = failure(program)
    assert error.codes == ("service-account-after-finalize",)
    assert "ServiceAccount[shop/web]" in str(error)
    assert "create_service_accounts: False" in str(error)


def test_create_service_accounts_must_be_a_boolean() -> None:
    error = failure(shop(lambda _: deployment("web"), create_service_accounts="no"))
    assert error.codes == ("spec-wrong-type",)
    assert "create_service_accounts" in str(error)


# camelCase and misspelt keys.


def only_problem(program: Callable[[], None]) -> Any:
    (problem,) = failure(program).problems
    return problem


def test_a_camel_case_key_is_refused_with_its_snake_case_name() -> None:
    def body(_: Mesh) -> None:
        deployment("web")
        source: Any = {"serviceAccount": "web"}
        AccessPolicy(
            "p", {"namespace": "shop", "destination": {"service": "web"}, "sources": [source]}
        )

    problem = only_problem(shop(body))
    assert problem.code == "spec-unknown-key"
    assert problem.path == "policies[p].sources[0].serviceAccount"
    assert problem.expected == "one of service_account, namespace"
    assert problem.found == "'serviceAccount'"
    assert problem.fix.startswith("did you mean 'service_account'?")


@pytest.mark.parametrize(
    ("args", "path", "hint"),
    [
        (
            {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
            "services[api].ports[http].targetPort",
            "target_port",
        ),
        ({"selectr": {"app": "api"}}, "services[api].selectr", "selector"),
        ({"Headless": True}, "services[api].Headless", "headless"),
    ],
    ids=["camelCase", "typo", "capitalised"],
)
def test_one_wrong_key_is_one_problem_with_the_field_to_use(
    args: dict[str, Any], path: str, hint: str
) -> None:
    def body(_: Mesh) -> None:
        ports = [{"name": "http", "port": 80}]
        MeshService("api", {"namespace": "shop", "ports": ports, **args})  # type: ignore[typeddict-item]

    problem = only_problem(shop(body))
    assert (problem.code, problem.path) == ("spec-unknown-key", path)
    assert f"did you mean {hint!r}?" in problem.fix


def test_a_mesh_argument_in_camel_case_names_the_mesh_field() -> None:
    def program() -> None:
        Mesh("shop", {"ca": CA_TEXT, "createNamespaces": False})  # type: ignore[typeddict-unknown-key]

    problem = only_problem(program)
    assert problem.path == "mesh.createNamespaces"
    assert "create_namespaces" in problem.expected
    assert problem.fix.startswith("did you mean 'create_namespaces'?")


def test_a_key_nothing_resembles_is_to_be_removed() -> None:
    def body(_: Mesh) -> None:
        DestinationSettings("web", {"namespace": "shop", "retries": {"zzz": 1}})  # type: ignore[typeddict-unknown-key]

    problem = only_problem(shop(body))
    assert problem.path == "destinations[0].retries.zzz"
    assert problem.fix == "remove it"


def test_the_whole_mesh_component_reports_every_wrong_key_at_once() -> None:
    def program() -> None:
        workload = {"name": "web", "namespace": "shop", "serviceAccount": "web", "image": "x"}
        args: Any = {
            "mesh": {"name": "shop", "ca": CA_TEXT, "trustDomain": "example.org"},
            "workloads": [workload],
            "service": [],
        }
        MeshFromSpec("shop", args, now=NOW)

    problems = {(p.path, p.fix.split("?")[0]) for p in failure(program).problems}
    assert problems == {
        ("mesh.trustDomain", "did you mean 'trust_domain'"),
        ("workloads[web].serviceAccount", "did you mean 'service_account'"),
        ("service", "did you mean 'services'"),
    }


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ({"services": []}, "mesh"),
        ({"mesh": {"name": "shop", "ca": CA_TEXT}, "services": "web"}, "services"),
        ({"mesh": {"name": "shop", "ca": CA_TEXT}, "splits": ["web"]}, "splits"),
    ],
    ids=["no-mesh", "not-a-list", "not-mappings"],
)
def test_a_whole_mesh_of_the_wrong_shape_is_a_problem_not_a_traceback(
    args: dict[str, Any], path: str
) -> None:
    problem = only_problem(lambda: MeshFromSpec("shop", spoilt(**args), now=NOW))
    assert (problem.path, problem.code) == (path, "spec-wrong-type")


def test_the_whole_mesh_component_leaves_service_accounts_out_when_told() -> None:
    mesh = {"name": "shop", "namespaces": ["shop"], "ca": CA_TEXT}
    workload = {"name": "web", "namespace": "shop", "service_account": "web", "image": "x"}
    args: Any = {"mesh": {**mesh, "create_service_accounts": False}, "workloads": [workload]}
    recorder = run(lambda: MeshFromSpec("shop", args, now=NOW))
    assert accounts(recorder) == []
    assert recorder.of_type("kubernetes:apps/v1:Deployment")


def test_arguments_that_are_not_a_dict_are_a_problem() -> None:
    def body(_: Mesh) -> None:
        TrafficSplit("split", ["web"])  # type: ignore[arg-type]

    problem = only_problem(shop(body))
    assert (problem.path, problem.code) == ("splits", "spec-wrong-type")


# A mistake in any component's arguments ends the program at once.


def program_run(program: Callable[[], None]) -> Recorder:
    """Run `program` as the language host does (`run_in_stack`: the root Stack, `pulumi.run`
    entrypoints, then a wait for every outstanding RPC and Output), against Pulumi's mocks."""
    recorder = Recorder()

    def body() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        monitor = MockMonitor(recorder)
        features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
        settings = MockSettings(
            monitor=monitor,
            monitor_features=features,
            engine=MockEngine(None),
            project="project",
            stack="stack",
            dry_run=False,
            organization="organization",
            callbacks=None,
        )
        configure(settings)
        try:
            loop.run_until_complete(run_in_stack(program))
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            with SETTINGS.lock:
                SETTINGS.outputs.clear()
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(body)
    return recorder


def meshed(declare: Callable[[], object]) -> Callable[[], None]:
    """A plain program (its mesh finalized by `pulumi.run`) that calls `declare` last."""

    def program() -> None:
        mesh = Mesh("shop", {"namespaces": ["shop"], "ca": CA_TEXT}, now=NOW)
        mesh.auto_inject()
        MeshService("web", {"namespace": "shop", "selector": {"app": "web"}, "ports": WEB_PORTS})
        deployment("web")
        declare()

    return program


def spoilt(**args: Any) -> Any:
    """Arguments with a mistake in them (so no TypedDict they are checked against)."""
    return args


def whole(**mistake: Any) -> Callable[[], None]:
    def program() -> None:
        mesh = {"name": "shop", "namespaces": ["shop"], "ca": CA_TEXT}
        MeshFromSpec("shop", spoilt(mesh=mesh, **mistake), now=NOW)

    return program


def mesh_with(**mistake: Any) -> Callable[[], None]:
    def program() -> None:
        Mesh("shop", spoilt(namespaces=["shop"], ca=CA_TEXT, **mistake), now=NOW)

    return program


WEB = {"service": "web"}
CASES: dict[str, Callable[[], None]] = {
    "Mesh typo": mesh_with(namespacez=["shop"]),
    "Mesh type": mesh_with(mtls=3),
    "MeshService typo": meshed(
        lambda: MeshService("db", spoilt(namespace="shop", ports=[], selectr={}))
    ),
    "MeshService type": meshed(
        lambda: MeshService("db", spoilt(namespace="shop", ports=[{"name": "db", "port": "1"}]))
    ),
    "TrafficSplit typo": meshed(
        lambda: TrafficSplit("s", spoilt(namespace="shop", service="web", backend=[]))
    ),
    "TrafficSplit type": meshed(
        lambda: TrafficSplit(
            "s", spoilt(namespace="shop", service="web", backends=[{**WEB, "weight": "5"}])
        )
    ),
    "AccessPolicy typo": meshed(
        lambda: AccessPolicy("p", spoilt(namespace="shop", destination=WEB, sourcez=[]))
    ),
    "AccessPolicy type": meshed(
        lambda: AccessPolicy("p", spoilt(namespace="shop", destination=WEB, sources="web"))
    ),
    "DestinationSettings typo": meshed(
        lambda: DestinationSettings("web", spoilt(namespace="shop", timeot="5s"))
    ),
    "DestinationSettings type": meshed(
        lambda: DestinationSettings("web", spoilt(namespace="shop", timeout=["5s"]))
    ),
    "MeshIngress typo": meshed(
        lambda: MeshIngress("i", spoilt(namespace="shop", service="web", port=[80], sources={}))
    ),
    "MeshIngress type": meshed(
        lambda: MeshIngress("i", spoilt(namespace="shop", service="web", ports=80, sources={}))
    ),
    "EgressRule typo": meshed(
        lambda: EgressRule("e", spoilt(namespace="shop", tsl={"hosts": ["a.example"]}))
    ),
    "EgressRule type": meshed(
        lambda: EgressRule("e", spoilt(namespace="shop", tls={"hosts": "a.example"}))
    ),
    "MeshFromSpec typo": whole(service=[]),
    "MeshFromSpec type": whole(services=[{"name": "web", "namespace": "shop", "ports": "80"}]),
    # What auto-injection reads of a workload, also checked while the transformation runs.
    "Deployment labels from an Output": meshed(
        lambda: deployment("client", labels={"tier": pulumi.Output.from_input("x")})
    ),
    "Deployment spec from an Output": meshed(
        lambda: k8s.apps.v1.Deployment(
            "client", metadata={"namespace": "shop"}, spec=pulumi.Output.from_input({})
        )
    ),
    "Deployment containers of the wrong shape": meshed(
        lambda: k8s.apps.v1.Deployment(
            "client",
            metadata={"namespace": "shop"},
            spec={"template": {"spec": {"serviceAccountName": "c", "containers": "nginx"}}},
        )
    ),
}
EXPECTED = {
    "typo": "spec-unknown-key",
    "type": "spec-wrong-type",
    "Output": "workload-field-not-plain",
    "shape": "manifest-invalid",
}
"""Each case's problem code, by the last word of its name."""


def report() -> None:
    """Run every case and print one JSON line each, as soon as it ends (the child's side)."""
    for case, program in CASES.items():
        start = time.monotonic()
        try:
            program_run(program)
            outcome: dict[str, Any] = {"error": None}
        except Exception as error:  # each case's error is its result
            outcome = {
                "error": type(error).__name__,
                "run_error": isinstance(error, pulumi.RunError),
                "codes": list(getattr(error, "codes", ())),
                "message": str(error),
            }
        outcome.update(case=case, seconds=time.monotonic() - start)
        print(json.dumps(outcome), flush=True)


def test_a_mistake_in_any_components_arguments_ends_the_program_within_2_seconds() -> None:
    child = "from tests.test_pulumi_traps import report; report()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", child],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the program hung; cases that ended:\n{hung.stdout!r}")
    assert done.returncode == 0, done.stderr
    outcomes = {o["case"]: o for o in map(json.loads, done.stdout.splitlines())}
    assert set(outcomes) == set(CASES)
    for case, outcome in outcomes.items():
        assert outcome["error"] == MeshProgramError.__name__, (case, outcome)
        assert outcome["run_error"], case
        expected = EXPECTED[case.rsplit(" ", 1)[1]]
        assert outcome["codes"] == [expected], (case, outcome["message"])
        assert "Traceback" not in outcome["message"], case
        assert outcome["seconds"] < SECONDS, (case, outcome["seconds"])
