"""Hostile Kubernetes manifests for `inject -f`, `import DIR` and `render DIR` (issue 16).

The red team's crash sites, each as a case: OSM's demo with one field of one object made
hostile, run through the CLI in-process. Each must end in exit 2 with a problem of the given
code and no exception out of `main`, or, where kubectl would take it, be taken as kubectl
would (YAML read as JSON: a timestamp is its text). Then what reading a manifest directory
must never do: print a secret from a file put there by mistake, follow a link, recurse until
Python gives up, or wait on a FIFO.
"""

from __future__ import annotations

import ast
import copy
import datetime
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh_components.cli import main
from mesh_components.errors import MeshValidationError
from mesh_components.limits import MAX_DIRECTORY_DEPTH
from mesh_components.local.manifests import read_dir
from tests.time_limit import time_limit

ROOT = Path(__file__).resolve().parents[1]
BOOKSTORE = ROOT / "examples" / "bookstore"
DEMO = Path(__file__).parent / "goldens_smi" / "osm-demo-input"
FLAGS = ["--namespaces", "bookstore,bookbuyer,bookthief,bookwarehouse", "--access", "policy"]
INJECTED_KINDS = ("Deployment", "Service", "ServiceAccount", "StatefulSet")
CASE_SECONDS = 60

Json = dict[str, Any]
Mutation = Callable[[list[Json]], None]


def _demo() -> list[Json]:
    return [
        document
        for file in sorted(DEMO.glob("*.yaml"))
        for document in yaml.safe_load_all(file.read_text())
        if document
    ]


def _set(kind: str, name: str, path: tuple[str | int, ...], value: object) -> Mutation:
    """Set the field at `path` of the demo's object `kind`/`name` to `value`."""

    def mutate(documents: list[Json]) -> None:
        (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
        node: Any = found
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = copy.deepcopy(value)

    return mutate


POD = ("spec", "template")
CONTAINER = (*POD, "spec", "containers", 0)
MYSQL = ("StatefulSet", "mysql")
BOOKBUYER = ("Deployment", "bookbuyer")

# name: (mutation, problem code, the verbs that read the field)
CASES: dict[str, tuple[Mutation, str, tuple[str, ...]]] = {
    "workload-spec-scalar": (_set(*BOOKBUYER, ("spec",), 5), "manifest-invalid", ("all",)),
    "workload-metadata-scalar": (_set(*MYSQL, ("metadata",), 5), "manifest-invalid", ("all",)),
    "template-scalar": (_set(*BOOKBUYER, POD, "x"), "manifest-invalid", ("all",)),
    "template-metadata-zero": (
        _set(*BOOKBUYER, (*POD, "metadata"), 0),
        "manifest-invalid",
        ("all",),
    ),
    "template-labels-scalar": (
        _set(*MYSQL, (*POD, "metadata", "labels"), "x"),
        "manifest-invalid",
        ("all",),
    ),
    "label-value-list": (
        _set(*BOOKBUYER, (*POD, "metadata", "labels", "app"), []),
        "manifest-invalid",
        ("all",),
    ),
    "label-value-number": (
        _set(*BOOKBUYER, (*POD, "metadata", "labels", "version"), 1),
        "manifest-invalid",
        ("all",),
    ),
    "label-value-mapping": (
        _set(*BOOKBUYER, (*POD, "metadata", "labels", "app"), {"\x1b[31m": 1}),
        "manifest-invalid",
        ("all",),
    ),
    "volumes-string": (_set(*MYSQL, (*POD, "spec", "volumes"), "x"), "manifest-invalid", ("all",)),
    "volume-scalar": (_set(*MYSQL, (*POD, "spec", "volumes", 0), 5), "manifest-invalid", ("all",)),
    "ports-string": (_set(*BOOKBUYER, (*CONTAINER, "ports"), "x"), "manifest-invalid", ("all",)),
    "port-scalar": (_set(*MYSQL, (*CONTAINER, "ports", 0), 5), "manifest-invalid", ("all",)),
    "port-number-string": (
        _set(*MYSQL, (*CONTAINER, "ports", 0, "containerPort"), "3306"),
        "manifest-invalid",
        ("all",),
    ),
    "probe-zero": (_set(*MYSQL, (*CONTAINER, "readinessProbe"), 0), "manifest-invalid", ("all",)),
    "probe-action-string": (
        _set(*MYSQL, (*CONTAINER, "readinessProbe", "tcpSocket"), "x"),
        "manifest-invalid",
        ("all",),
    ),
    "probe-port-list": (
        _set(*MYSQL, (*CONTAINER, "readinessProbe", "tcpSocket", "port"), []),
        "manifest-invalid",
        ("all",),
    ),
    "service-account-number": (
        _set(*BOOKBUYER, (*POD, "spec", "serviceAccountName"), 5),
        "manifest-invalid",
        ("all",),
    ),
    "service-labels-scalar": (
        _set("Service", "bookstore", ("metadata", "labels"), 5),
        "manifest-invalid",
        ("all",),
    ),
    "not-a-number": (
        _set(*BOOKBUYER, ("spec", "replicas"), float("nan")),
        "manifest-invalid",
        ("all",),
    ),
    "earlier-injection-record": (
        _set(
            *BOOKBUYER,
            (*POD, "metadata", "annotations"),
            {
                "mesh-components.io/config-hash": "x",
                "mesh-components.io/original-probes": '{"bookbuyer": 5}',
            },
        ),
        "manifest-invalid",
        ("all",),
    ),
    "kind-null-byte": (
        _set("ServiceAccount", "bookbuyer", ("kind",), "a\x00b"),
        "manifest-invalid",
        ("import", "render"),
    ),
    "kind-path": (
        _set("ServiceAccount", "bookbuyer", ("kind",), "../../x"),
        "manifest-invalid",
        ("import", "render"),
    ),
    "service-selector-list": (
        _set("Service", "bookstore", ("spec", "selector", "app"), []),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "service-spec-scalar": (
        _set("Service", "bookstore", ("spec",), 5),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "service-ports-string": (
        _set("Service", "bookstore", ("spec", "ports"), "x"),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "traffic-target-spec-scalar": (
        _set("TrafficTarget", "bookstore", ("spec",), 5),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "route-group-spec-scalar": (
        _set("HTTPRouteGroup", "bookstore-service-routes", ("spec",), True),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "split-spec-scalar": (
        _set("TrafficSplit", "bookstore-split", ("spec",), 3.5),
        "smi-wrong-type",
        ("import", "render"),
    ),
    "meshconfig-spec-scalar": (
        _set("MeshConfig", "osm-mesh-config", ("spec",), "x"),
        "smi-wrong-type",
        ("import", "render"),
    ),
}


NAMES_FIRST = {("inject", "workload-metadata-scalar"): "object-name-invalid"}
"""`inject` checks object names before anything else (they become paths)."""


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("ca")
    path = base / "ca.secret.yaml"
    argv = ["render", str(BOOKSTORE), "-o", str(base / "out"), "--ca-file", str(path), "--new-ca"]
    assert main(argv) == 0
    return path


def _argv(verb: str, folder: Path, out: Path, ca: Path) -> list[str]:
    if verb == "inject":
        file = folder / "all.yaml"
        return ["inject", "-f", str(file), "--mesh", str(BOOKSTORE), "--ca-file", str(ca)]
    if verb == "import":
        return ["import", str(folder), "-o", str(out), *FLAGS]
    return ["render", str(folder), "-o", str(out), "--ca-file", str(ca), *FLAGS]


def _write(folder: Path, documents: list[Json], verb: str) -> None:
    folder.mkdir()
    kept = [d for d in documents if verb != "inject" or d["kind"] in INJECTED_KINDS]
    (folder / "all.yaml").write_text(yaml.safe_dump_all(kept))


def _run(argv: list[str]) -> int:
    """`main(argv)`, given up on (as a failure) after CASE_SECONDS."""
    with time_limit(CASE_SECONDS, argv):
        return main(argv)


def _codes(text: str) -> set[str]:
    return set(re.findall(r"\[([a-z0-9-]+)\]", text))


def _cases() -> Iterator[object]:
    for name, (_, _, verbs) in CASES.items():
        for verb in ("inject", "import", "render"):
            if "all" in verbs or verb in verbs:
                yield pytest.param(name, verb, id=f"{verb}-{name}")


@pytest.mark.parametrize(("name", "verb"), list(_cases()))
def test_a_hostile_field_is_a_problem_naming_it(
    name: str, verb: str, *, ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mutate, code, _ = CASES[name]
    code = NAMES_FIRST.get((verb, name), code)
    documents = _demo()
    mutate(documents)
    _write(tmp_path / "in", documents, verb)

    exit_code = _run(_argv(verb, tmp_path / "in", tmp_path / "out", ca))

    printed = capsys.readouterr()
    assert exit_code == 2, printed.err
    assert code in _codes(printed.err), printed.err
    assert "Traceback" not in printed.err
    assert "\x1b" not in printed.out + printed.err
    assert not (tmp_path / "out").exists()


def test_each_problem_names_the_object_and_the_field(
    ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = _demo()
    _set(*BOOKBUYER, (*POD, "metadata"), 0)(documents)
    _write(tmp_path / "in", documents, "inject")

    assert main(_argv("inject", tmp_path / "in", tmp_path / "out", ca)) == 2

    err = capsys.readouterr().err
    assert "Deployment[bookbuyer/bookbuyer].spec.template.metadata: [manifest-invalid]" in err


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        (datetime.date(2020, 1, 1), "2020-01-01"),
        (
            datetime.datetime(2020, 1, 1, 10, 0, tzinfo=datetime.UTC),
            "2020-01-01T10:00:00Z",
        ),
        (
            datetime.datetime(
                2020, 1, 1, 10, 0, 0, 500000, tzinfo=datetime.timezone(-datetime.timedelta(hours=5))
            ),
            "2020-01-01T10:00:00.5-05:00",
        ),
    ],
    ids=["date", "utc", "offset"],
)
@pytest.mark.parametrize("verb", ["inject", "import", "render"])
def test_a_timestamp_is_sent_as_its_text_as_kubectl_sends_it(
    verb: str,
    written: datetime.date,
    sent: str,
    *,
    ca: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    documents = _demo()
    _set(*BOOKBUYER, ("metadata", "annotations"), {"deployed": written})(documents)
    _set(*BOOKBUYER, (*POD, "metadata", "annotations"), {"deployed": written})(documents)
    _write(tmp_path / "in", documents, verb)
    assert "deployed: 20" in (tmp_path / "in" / "all.yaml").read_text()  # unquoted: a timestamp

    assert _run(_argv(verb, tmp_path / "in", tmp_path / "out", ca)) == 0

    if verb == "inject":
        objects = list(yaml.safe_load_all(capsys.readouterr().out))
    else:
        files = sorted((tmp_path / "out").rglob("*.yaml"))
        objects = [o for f in files for o in yaml.safe_load_all(f.read_text()) if o]
    (deployment,) = [o for o in objects if o.get("kind") == "Deployment" and _named(o, "bookbuyer")]
    assert deployment["metadata"]["annotations"]["deployed"] == sent
    assert deployment["spec"]["template"]["metadata"]["annotations"]["deployed"] == sent


def _named(manifest: Json, name: str) -> bool:
    return bool(manifest.get("metadata", {}).get("name") == name)


def test_a_key_that_is_no_string_is_its_json_text(tmp_path: Path) -> None:
    documents = _demo()
    _set(*BOOKBUYER, (*POD, "metadata", "labels", 1), "a")(documents)
    _set(*BOOKBUYER, (*POD, "metadata", "labels", False), "b")(documents)
    _write(tmp_path / "in", documents, "import")

    assert main(_argv("import", tmp_path / "in", tmp_path / "out", Path("unused"))) == 0

    spec = yaml.safe_load((tmp_path / "out" / "mesh.yaml").read_text())
    (bookbuyer,) = [w for w in spec["workloads"] if w["name"] == "bookbuyer"]
    assert {"1": "a", "false": "b"}.items() <= bookbuyer["labels"].items()


def _seed(ca: Path) -> str:
    return str(yaml.safe_load(ca.read_text())["seed"])


@pytest.mark.parametrize("how", ["copy", "link"])
@pytest.mark.parametrize("verb", ["import", "render"])
def test_a_ca_file_in_the_manifest_directory_is_never_quoted(
    verb: str, how: str, *, ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "in", _demo(), verb)
    placed = tmp_path / "in" / "ca.secret.yaml"
    if how == "copy":
        placed.write_bytes(ca.read_bytes())
    else:
        placed.symlink_to(ca)

    assert _run(_argv(verb, tmp_path / "in", tmp_path / "out", ca)) == 2

    err = capsys.readouterr().err
    assert _codes(err) == {"smi-not-an-object" if how == "copy" else "file-is-link"}
    assert _seed(ca)[:8] not in err
    assert "a mapping without apiVersion and kind" in err or how == "link"


def test_a_ca_file_given_to_inject_is_never_quoted(
    ca: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["inject", "-f", str(ca), "--mesh", str(BOOKSTORE), "--ca-file", str(ca)]

    assert main(argv) == 2

    err = capsys.readouterr().err
    assert "manifest-invalid" in err
    assert _seed(ca)[:8] not in err


def _nest(root: Path) -> None:
    """Directories nested past the limit, under `root`: the red team's 1,500 made the old
    recursive walk fail; the walk now stops at the limit, which a few more show (and pytest
    can still remove them, which it cannot at 1,500)."""
    root.joinpath(*["d"] * (MAX_DIRECTORY_DEPTH + 8)).mkdir(parents=True)


@pytest.mark.parametrize("verb", ["import", "render"])
def test_directories_nested_too_deep_are_a_problem(
    verb: str, ca: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "in", _demo(), verb)
    _nest(tmp_path / "in")

    assert _run(_argv(verb, tmp_path / "in", tmp_path / "out", ca)) == 2

    assert _codes(capsys.readouterr().err) == {"file-too-deep"}


@pytest.mark.parametrize("verb", ["import", "render"])
def test_links_and_fifos_in_a_manifest_directory_are_passed_by(
    verb: str, ca: Path, tmp_path: Path
) -> None:
    _write(tmp_path / "in", _demo(), verb)
    os.mkfifo(tmp_path / "in" / "waits.yaml")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")  # a directory link: not followed
    (tmp_path / "in" / "elsewhere").symlink_to(DEMO)

    assert _run(_argv(verb, tmp_path / "in", tmp_path / "out", ca)) == 0


def test_a_local_run_reads_its_directory_without_links_recursion_or_fifos(
    tmp_path: Path,
) -> None:
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    (rendered / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {at: 2020-01-01}}\n"
    )
    os.mkfifo(rendered / "waits.yaml")
    (rendered / "loop").symlink_to(rendered)

    found = read_dir(rendered)

    assert found.get("ConfigMap", "default", "a") is not None
    assert found.objects[("ConfigMap", "default", "a")]["metadata"]["annotations"] == {
        "at": "2020-01-01"
    }
    _nest(rendered)
    with pytest.raises(MeshValidationError) as refused:
        read_dir(rendered)
    assert refused.value.codes == ("file-too-deep",)


def test_a_local_run_refuses_a_name_that_is_no_string(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [a]}\n")

    with pytest.raises(MeshValidationError) as refused:
        read_dir(tmp_path)

    assert refused.value.codes == ("local-object-invalid",)


def test_the_imported_program_holds_no_code_from_the_input(tmp_path: Path) -> None:
    widget = {
        "apiVersion": "evil;import os/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "bookbuyer"},
        "spec": {"a": 1},
    }
    _write(tmp_path / "in", [*_demo(), widget], "import")

    assert main(_argv("import", tmp_path / "in", tmp_path / "out", Path("unused"))) == 0

    program = (tmp_path / "out" / "__main__.py").read_text()
    ast.parse(program)
    assert '"evil;import os/v1"' in program  # a string, in a custom resource
    assert "k8s.evil" not in program


def test_a_top_level_field_that_is_no_name_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "bookbuyer"},
        "x=1) or print(1) #": "y",
    }
    _write(tmp_path / "in", [*_demo(), config], "import")

    assert main(_argv("import", tmp_path / "in", tmp_path / "out", Path("unused"))) == 2

    assert _codes(capsys.readouterr().err) == {"smi-pulumi-field-invalid"}
    assert not (tmp_path / "out").exists()
