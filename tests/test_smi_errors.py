"""SMI, OSM and Kubernetes fields the mesh cannot honour are problems that name them (kind,
namespace, name and field path) with a stable code, never silently dropped."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode
from mesh_components.smi import import_documents, read_manifest_dir
from tests.test_smi_import import docs
from tests.test_smi_resources import HTTP_RULE, meshconfig, route_group, shop, split, target

Json = dict[str, Any]
Edit = Callable[[Json], None]


def base() -> list[Json]:
    return [
        *shop(),
        split("v1alpha4", (50, 50)),
        route_group("v1alpha4"),
        target("v1alpha3", [HTTP_RULE]),
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {},
        },
    ]


def kind(documents: list[Json], name: str) -> Json:
    return next(d for d in documents if d["kind"] == name)


def named(documents: list[Json], kind_: str, name: str) -> Json:
    return next(d for d in documents if d["kind"] == kind_ and d["metadata"]["name"] == name)


CASES: list[tuple[str, Callable[[list[Json]], None], str, str]] = [
    (
        "split matches",
        lambda d: kind(d, "TrafficSplit")["spec"].update(
            matches=[{"kind": "HTTPRouteGroup", "name": "x"}]
        ),
        "smi-field-unsupported",
        "TrafficSplit[shop/api-split].spec.matches",
    ),
    (
        "split root in another namespace",
        lambda d: kind(d, "TrafficSplit")["spec"].update(service="api.other"),
        "smi-invalid-value",
        "TrafficSplit[shop/api-split].spec.service",
    ),
    (
        "split weight as a quantity after v1alpha1",
        lambda d: kind(d, "TrafficSplit")["spec"]["backends"][0].update(weight="500m"),
        "smi-wrong-type",
        "TrafficSplit[shop/api-split].spec.backends[0].weight",
    ),
    (
        "v1alpha1 weight that is no quantity",
        lambda d: (
            kind(d, "TrafficSplit").update(apiVersion="split.smi-spec.io/v1alpha1")
            or kind(d, "TrafficSplit")["spec"]["backends"][0].update(weight="half")
        ),
        "smi-invalid-value",
        "TrafficSplit[shop/api-split].spec.backends[0].weight",
    ),
    (
        "destination port",
        lambda d: (
            kind(d, "TrafficTarget").update(apiVersion="access.smi-spec.io/v1alpha2")
            or kind(d, "TrafficTarget")["spec"]["destination"].update(port=8080)
        ),
        "smi-field-unsupported",
        "TrafficTarget[shop/api].spec.destination.port",
    ),
    (
        "destination in another namespace",
        lambda d: kind(d, "TrafficTarget")["spec"]["destination"].update(namespace="other"),
        "smi-invalid-value",
        "TrafficTarget[shop/api].spec.destination.namespace",
    ),
    (
        "source without a namespace",
        lambda d: kind(d, "TrafficTarget")["spec"]["sources"][0].pop("namespace"),
        "smi-missing-field",
        "TrafficTarget[shop/api].spec.sources[0].namespace",
    ),
    (
        "source that is no ServiceAccount",
        lambda d: kind(d, "TrafficTarget")["spec"]["sources"][0].update(kind="Group"),
        "smi-invalid-value",
        "TrafficTarget[shop/api].spec.sources[0].kind",
    ),
    (
        "UDPRoute rule",
        lambda d: kind(d, "TrafficTarget")["spec"]["rules"].append(
            {"kind": "UDPRoute", "name": "u"}
        ),
        "smi-invalid-value",
        "TrafficTarget[shop/api].spec.rules[1].kind",
    ),
    (
        "no rules",
        lambda d: kind(d, "TrafficTarget")["spec"].update(rules=[]),
        "smi-invalid-value",
        "TrafficTarget[shop/api].spec.rules",
    ),
    (
        "rule without matches",
        lambda d: kind(d, "TrafficTarget")["spec"]["rules"][0].pop("matches"),
        "smi-missing-field",
        "TrafficTarget[shop/api].spec.rules[0].matches",
    ),
    (
        "unknown match",
        lambda d: kind(d, "TrafficTarget")["spec"]["rules"][0]["matches"].append("write"),
        "smi-invalid-value",
        "TrafficTarget[shop/api].spec.rules[0].matches[3]",
    ),
    (
        "missing route group",
        lambda d: kind(d, "TrafficTarget")["spec"]["rules"][0].update(name="nope"),
        "smi-route-missing",
        "TrafficTarget[shop/api].spec.rules[0].name",
    ),
    (
        "missing TCPRoute",
        lambda d: kind(d, "TrafficTarget")["spec"]["rules"].append(
            {"kind": "TCPRoute", "name": "gone"}
        ),
        "smi-route-missing",
        "TrafficTarget[shop/api].spec.rules[1].name",
    ),
    (
        "host header",
        lambda d: kind(d, "HTTPRouteGroup")["spec"]["matches"][2].update(headers={"Host": "a"}),
        "smi-invalid-value",
        "HTTPRouteGroup[shop/api-routes].spec.matches[2].headers[Host]",
    ),
    (
        "unknown match field",
        lambda d: kind(d, "HTTPRouteGroup")["spec"]["matches"][0].update(pathPrefix="/x"),
        "smi-field-unsupported",
        "HTTPRouteGroup[shop/api-routes].spec.matches[0].pathPrefix",
    ),
    (
        "unsupported SMI version",
        lambda d: kind(d, "TrafficSplit").update(apiVersion="split.smi-spec.io/v1beta1"),
        "smi-version-unsupported",
        "TrafficSplit[shop/api-split].apiVersion",
    ),
    (
        "unsupported OSM kind",
        lambda d: d.append(
            {
                "apiVersion": "policy.openservicemesh.io/v1alpha1",
                "kind": "Retry",
                "metadata": {"name": "e", "namespace": "shop"},
            }
        ),
        "smi-kind-unsupported",
        "Retry[shop/e]",
    ),
    (
        "LoadBalancer service",
        lambda d: named(d, "Service", "api")["spec"].update(type="LoadBalancer"),
        "smi-invalid-value",
        "Service[shop/api].spec.type",
    ),
    (
        "UDP port",
        lambda d: named(d, "Service", "api")["spec"]["ports"][0].update(protocol="UDP"),
        "smi-invalid-value",
        "Service[shop/api].spec.ports[0].protocol",
    ),
    (
        "session affinity",
        lambda d: named(d, "Service", "api")["spec"].update(sessionAffinity="ClientIP"),
        "smi-invalid-value",
        "Service[shop/api].spec.sessionAffinity",
    ),
    (
        "egress passthrough that is not a boolean",
        lambda d: d.append(meshconfig(traffic={"enableEgress": "yes"})),
        "smi-meshconfig-unsupported",
        "MeshConfig[osm-system/osm-mesh-config].spec.traffic.enableEgress",
    ),
    (
        "tracing",
        lambda d: d.append(meshconfig(observability={"tracing": {"enable": True, "address": "j"}})),
        "smi-meshconfig-unsupported",
        "MeshConfig[osm-system/osm-mesh-config].spec.observability.tracing.enable",
    ),
    (
        "ingress gateway certificate",
        lambda d: d.append(meshconfig(certificate={"ingressGateway": {"secret": {"name": "x"}}})),
        "smi-meshconfig-unsupported",
        "MeshConfig[osm-system/osm-mesh-config].spec.certificate.ingressGateway",
    ),
    (
        "validity in minutes",
        lambda d: d.append(meshconfig(certificate={"serviceCertValidityDuration": "90m"})),
        "smi-meshconfig-unsupported",
        "MeshConfig[osm-system/osm-mesh-config].spec.certificate.serviceCertValidityDuration",
    ),
    (
        "two MeshConfigs",
        lambda d: d.extend(
            [meshconfig(), {**meshconfig(), "metadata": {"name": "b", "namespace": "osm-system"}}]
        ),
        "smi-meshconfig-several",
        "MeshConfig[osm-system/b]",
    ),
]


@pytest.mark.parametrize(
    ("edit", "code", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_what_cannot_be_honoured_is_a_problem_that_names_it(
    edit: Callable[[list[Json]], None], code: str, path: str
) -> None:
    documents = copy.deepcopy(base())
    edit(documents)
    with pytest.raises(MeshValidationError) as error:
        import_documents(docs(*documents), access=AccessMode.POLICY)
    found = {(p.code, p.path) for p in error.value.problems}
    assert (code, path) in found, error.value
    assert all(p.fix for p in error.value.problems if p.code.startswith("smi-")), error.value


def test_the_base_of_the_table_imports() -> None:
    """Each case above fails because of its edit alone."""
    spec = import_documents(docs(*base()), access=AccessMode.POLICY).spec
    assert len(spec.policies) == 1 and len(spec.splits) == 1


def test_every_problem_of_the_input_is_reported_at_once() -> None:
    documents = copy.deepcopy(base())
    chosen = [case for case in CASES if case[0] in INDEPENDENT]
    for _, edit, _, _ in chosen:
        edit(documents)
    with pytest.raises(MeshValidationError) as error:
        import_documents(docs(*documents), access=AccessMode.POLICY)
    found = {(p.code, p.path) for p in error.value.problems}
    assert {(code, path) for _, _, code, path in chosen} <= found
    assert len(chosen) == len(INDEPENDENT)


INDEPENDENT = (
    "split matches",
    "source that is no ServiceAccount",
    "host header",
    "LoadBalancer service",
    "egress passthrough that is not a boolean",
    "session affinity",
)


def test_the_files_problems_are_listed_with_the_imports_own(tmp_path: Path) -> None:
    """A file that holds no Kubernetes object, and an object the API server would refuse, do
    not hide the problems of the rest: one run lists them all."""
    documents = copy.deepcopy(base())
    named(documents, "Service", "api")["spec"].update(sessionAffinity="ClientIP")
    (tmp_path / "shop.yaml").write_text("\n---\n".join(json.dumps(d) for d in documents))
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    label = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": 1}}}
    (tmp_path / "z.json").write_text(json.dumps(label))
    with pytest.raises(MeshValidationError) as error:
        read_manifest_dir(tmp_path, access=AccessMode.POLICY)
    found = {(p.code, p.path) for p in error.value.problems}
    assert found == {
        ("smi-invalid-value", "Service[shop/api].spec.sessionAffinity"),
        ("smi-not-an-object", "values.yaml#0"),
        ("manifest-invalid", "ConfigMap[default/c].metadata.labels[a]"),
    }
