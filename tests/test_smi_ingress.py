"""OSM's IngressBackend imported as ingress entries: https sources become mTLS identities, http
IPRange sources acknowledged plaintext, and every field the mesh cannot honour is a problem
that names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mesh_components.errors import MeshValidationError
from mesh_components.model import AccessMode, Identity, Ingress, IngressSources
from mesh_components.smi import import_documents
from mesh_components.smi.program import MAIN, program_files
from tests.test_smi_import import docs
from tests.test_smi_resources import shop

Json = dict[str, Any]
PATH = "IngressBackend[shop/api-backend].spec"


def backend(protocol: str = "https", **extra: Any) -> Json:
    """OSM's shape: the backend's port is its target port (api's is 8080)."""
    sources = (
        [{"kind": "AuthenticatedPrincipal", "name": "ingress-nginx.ingress-nginx.cluster.local"}]
        if protocol == "https"
        else [{"kind": "IPRange", "name": "10.244.0.0/16"}]
    )
    spec: Json = {
        "backends": [{"name": "api", "port": {"number": 8080, "protocol": protocol}}],
        "sources": sources,
        **extra,
    }
    return {
        "apiVersion": "policy.openservicemesh.io/v1alpha1",
        "kind": "IngressBackend",
        "metadata": {"name": "api-backend", "namespace": "shop"},
        "spec": spec,
    }


def imported(document: Json) -> tuple[Ingress, ...]:
    spec = import_documents(docs(*shop(), document), access=AccessMode.POLICY).spec
    return spec.ingress


def test_an_https_backend_lets_its_principal_in_with_mtls() -> None:
    assert imported(backend()) == (
        Ingress(
            "api-backend",
            "shop",
            "api",
            (80,),
            IngressSources(identities=(Identity("ingress-nginx", "ingress-nginx"),)),
        ),
    )


def test_an_http_backend_lets_its_ranges_in_as_acknowledged_plaintext() -> None:
    (entry,) = imported(backend("http"))
    assert entry.sources == IngressSources(ip_ranges=("10.244.0.0/16",), plaintext=True)


def test_an_http_backend_open_to_every_address_is_imported_with_a_note() -> None:
    document = backend("http")
    document["spec"]["sources"] = [{"kind": "IPRange", "name": "0.0.0.0/0"}]
    result = import_documents(docs(*shop(), document), access=AccessMode.POLICY)
    (entry,) = result.spec.ingress
    assert entry.sources.any_address
    assert any("any address" in note.message for note in result.notes)


def test_several_backends_become_one_entry_each() -> None:
    document = backend()
    document["spec"]["backends"].append(
        {"name": "db", "port": {"number": 8080, "protocol": "https"}}
    )
    assert [(e.name, e.service, e.ports) for e in imported(document)] == [
        ("api-backend-0", "api", (80,)),
        ("api-backend-1", "db", (5432,)),
    ]


def _edit_backend(**fields: Any) -> Callable[[Json], None]:
    return lambda d: d["spec"]["backends"][0].update(fields)


CASES: list[tuple[str, Callable[[Json], None], str, str]] = [
    (
        "matches, which OSM never enforced",
        lambda d: d["spec"].update(matches=[{"kind": "HTTPRouteGroup", "name": "x"}]),
        "smi-field-unsupported",
        f"{PATH}.matches",
    ),
    (
        "skipClientCertValidation",
        _edit_backend(tls={"skipClientCertValidation": True}),
        "smi-field-unsupported",
        f"{PATH}.backends[0].tls.skipClientCertValidation",
    ),
    (
        "sniHosts",
        _edit_backend(tls={"skipClientCertValidation": False, "sniHosts": ["api.example"]}),
        "smi-field-unsupported",
        f"{PATH}.backends[0].tls.sniHosts",
    ),
    (
        "a Service source, resolved to pod IPs at run time",
        lambda d: d["spec"]["sources"].append(
            {"kind": "Service", "name": "ingress-nginx", "namespace": "ingress-nginx"}
        ),
        "smi-field-unsupported",
        f"{PATH}.sources[1].kind",
    ),
    (
        "an IPRange on an https backend",
        lambda d: d["spec"]["sources"].append({"kind": "IPRange", "name": "10.0.0.0/8"}),
        "smi-field-unsupported",
        f"{PATH}.sources[1].kind",
    ),
    (
        "a principal of another trust domain",
        lambda d: d["spec"]["sources"][0].update(name="nginx.ingress.example.com"),
        "smi-invalid-value",
        f"{PATH}.sources[0].name",
    ),
    (
        "a service port number instead of its target port",
        _edit_backend(port={"number": 80, "protocol": "https"}),
        "smi-invalid-value",
        f"{PATH}.backends[0].port.number",
    ),
    (
        "a protocol OSM's ingress never had",
        _edit_backend(port={"number": 8080, "protocol": "grpc"}),
        "smi-invalid-value",
        f"{PATH}.backends[0].port.protocol",
    ),
    (
        "an unknown backend service",
        _edit_backend(name="nope"),
        "smi-invalid-value",
        f"{PATH}.backends[0].name",
    ),
    (
        "an unknown field",
        _edit_backend(weight=3),
        "smi-field-unsupported",
        f"{PATH}.backends[0].weight",
    ),
]


@pytest.mark.parametrize(("case", "edit", "code", "path"), CASES, ids=[c[0] for c in CASES])
def test_what_the_mesh_cannot_honour_is_a_problem_naming_the_field(
    case: str, edit: Callable[[Json], None], code: str, path: str
) -> None:
    document = backend()
    edit(document)
    with pytest.raises(MeshValidationError) as raised:
        imported(document)
    assert (path, code) in {(p.path, p.code) for p in raised.value.problems}, case


def test_an_http_backend_without_ranges_is_refused_rather_than_open_to_everyone() -> None:
    document = backend("http")
    document["spec"]["sources"] = [{"kind": "Service", "name": "nginx", "namespace": "ingress"}]
    with pytest.raises(MeshValidationError) as raised:
        imported(document)
    assert (f"{PATH}.sources", "smi-missing-field") in {
        (p.path, p.code) for p in raised.value.problems
    }


def test_the_imported_pulumi_program_declares_the_ingress_entry() -> None:
    result = import_documents(docs(*shop(), backend()), access=AccessMode.POLICY)
    main = program_files(result)[0][MAIN]
    assert "    MeshIngress,\n    MeshService,\n" in main
    assert 'MeshIngress("shop/api-backend", ' in main
    assert '"service_account": "ingress-nginx"' in main
