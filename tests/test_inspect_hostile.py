"""Hostile render directories (and git trees, and arguments) against the inspect tools and
`certs status`, as a red team wrote them: each is exit 2 with one problem and no traceback,
or is read correctly; nothing is written outside `-o`; no control byte is printed raw."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from mesh_components import names
from mesh_components.cli import main
from mesh_components.inspect import graph_formats, sources
from mesh_components.inspect.graph import Edge, EdgeKind, MeshGraph, Node, NodeKind
from mesh_components.terminal.redact import printable
from tests.foreign_ca import self_signed_ca

ROOT = Path(__file__).resolve().parents[1]
BOOKSTORE = ROOT / "examples" / "bookstore"
BIDI = "\u202e"
RAW = ("\x1b", "\r", "\x07", BIDI, "\u2066")
"""What must never reach the terminal (or a drawing) raw."""
Document = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("good")
    out = base / "rendered"
    ca = base / "ca.secret.yaml"
    assert main(["render", str(BOOKSTORE), "-o", str(out), "--ca-file", str(ca), "--new-ca"]) == 0
    return out


@pytest.fixture
def copy(rendered: Path, tmp_path: Path) -> Path:
    """A render directory of our own to edit."""
    target = tmp_path / "rendered"
    shutil.copytree(rendered, target)
    return target


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "Traceback" not in text
    return code, text


def _refused(argv: list[str], code: str, capsys: pytest.CaptureFixture[str]) -> str:
    status, text = _run(argv, capsys)
    assert status == 2, text
    assert f"[{code}]" in text, text
    assert not any(raw in text for raw in RAW), repr(text)
    return text


def _proxy_config_map(rendered: Path, workload: str) -> Path:
    (file,) = rendered.glob(f"*/*-configmap-{workload}-mesh-proxy.yaml")
    return file


def _edit(file: Path, change: Callable[[Document], object]) -> None:
    document = yaml.safe_load(file.read_text())
    change(document)
    file.write_text(yaml.safe_dump(document))


def _set_file(rendered: Path, workload: str, key: str, text: object) -> None:
    """Replace one file of a workload's proxy ConfigMap."""
    _edit(_proxy_config_map(rendered, workload), lambda doc: doc["data"].update({key: text}))


def _set_metadata(file: Path, field: str, value: object) -> None:
    _edit(file, lambda doc: doc["metadata"].update({field: value}))


def _set_node(rendered: Path, workload: str, **node: object) -> None:
    """Edit `node` in a workload's bootstrap."""
    file = _proxy_config_map(rendered, workload)
    document = yaml.safe_load(file.read_text())
    bootstrap = yaml.safe_load(document["data"][names.BOOTSTRAP_FILE])
    bootstrap["node"].update(node)
    document["data"][names.BOOTSTRAP_FILE] = yaml.safe_dump(bootstrap)
    file.write_text(yaml.safe_dump(document))


def _add(rendered: Path, document: object, name: str = "zz-hostile.yaml") -> None:
    (rendered / "bookbuyer" / name).write_text(yaml.safe_dump(document))


# --- 1. graph -o never writes through a link ------------------------------------------------


def test_graph_refuses_a_dangling_link_at_the_output_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside" / "created.txt"
    outside.parent.mkdir()
    link = tmp_path / "mesh.mmd"
    link.symlink_to(outside)
    _refused(["graph", str(BOOKSTORE), "-o", str(link)], "graph-output-is-link", capsys)
    assert not outside.exists() and list(outside.parent.iterdir()) == []
    assert link.is_symlink()


def test_graph_refuses_a_link_to_its_own_drawing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drawing = tmp_path / "real.mmd"
    assert main(["graph", str(BOOKSTORE), "-o", str(drawing)]) == 0
    before = drawing.read_text()
    link = tmp_path / "mesh.mmd"
    link.symlink_to(drawing)
    _refused(
        ["graph", str(BOOKSTORE), "--format", "dot", "-o", str(link)],
        "graph-output-is-link",
        capsys,
    )
    assert drawing.read_text() == before and link.is_symlink()


def test_graph_replaces_its_own_drawing_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    drawing = tmp_path / "mesh.dot"
    assert main(["graph", str(BOOKSTORE), "-o", str(drawing)]) == 0
    drawing.chmod(0o640)
    assert main(["graph", str(BOOKSTORE), "-o", str(drawing)]) == 0
    assert drawing.read_text().startswith(f"// {graph_formats.SIGNATURE}")
    assert drawing.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.dot"]  # no staging left


def test_graph_does_not_hang_on_a_fifo_at_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "mesh.mmd"
    os.mkfifo(fifo)
    _refused(["graph", str(BOOKSTORE), "-o", str(fifo)], "graph-output-exists", capsys)


# --- 2. names read back are Kubernetes names; drawings escape anyway ------------------------

HOSTILE_IDS = {
    "newline": "evil/w\n* * * * * root touch /tmp/pwned\n",
    "escapes": "a\x1b[31mRED\r\x07/b\x1b]0;title\x07",
    "bidi": f"evil/w{BIDI}gpj.exe",
    "dot-injection": 'evil/w" URL="javascript:alert(document.domain)" target="_top" //',
    "mermaid-injection": 'evil/w"] --> x["',
    "no-slash": "bookbuyer",
    "not-a-string": 5,
}


@pytest.mark.parametrize("verb", ["graph", "proxy-config", "diff"])
@pytest.mark.parametrize("node_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
def test_a_node_id_that_is_no_kubernetes_name_is_refused(
    verb: str, node_id: object, copy: Path, rendered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_node(copy, "bookbuyer", id=node_id)
    argv = {
        "graph": ["graph", str(copy)],
        "proxy-config": ["proxy-config", str(copy), "--workload", "bookstore/bookstore-v1"],
        "diff": ["diff", str(rendered), str(copy)],
    }[verb]
    text = _refused(argv, "inspect-render-name-invalid", capsys)
    assert "node.id" in text and "ConfigMap[bookbuyer/bookbuyer-mesh-proxy]" in text


@pytest.mark.parametrize("cluster", ["bookbuyer", "x\ny.bookbuyer", 'a".b', "bookbuyer.Bad"])
def test_a_node_cluster_that_is_no_account_and_namespace_is_refused(
    cluster: str, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_node(copy, "bookbuyer", cluster=cluster)
    text = _refused(["graph", str(copy)], "inspect-render-name-invalid", capsys)
    assert "node.cluster" in text


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("configmap", "name", 'bookbuyer-mesh-proxy"\x1b[2J'),
        ("configmap", "namespace", "Book\nbuyer"),
        ("secret", "name", f"bookbuyer-mesh-identity{BIDI}"),
        ("secret", "namespace", "../etc"),
    ],
)
def test_an_object_name_that_is_no_kubernetes_name_is_refused(
    kind: str, field: str, value: str, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (file,) = copy.glob(f"bookbuyer/*-{kind}-bookbuyer-mesh-*.yaml")
    _set_metadata(file, field, value)
    text = _refused(["graph", str(copy)], "inspect-render-name-invalid", capsys)
    assert f"metadata.{field}" in text


def _hostile_graph() -> MeshGraph:
    names_ = [
        'w" URL="javascript:alert(1)" x="',
        "a\nb\x1b[2J\r\x07",
        f"rtl{BIDI}txt.exe",
        'm"] --> evil["',
        "pipe|hash#amp&lt<gt>`tick`",
        "back\\slash\\",
    ]
    nodes = tuple(Node(f"ns{n}", NodeKind.WORKLOAD, name) for n, name in enumerate(names_))
    edges = tuple(
        Edge(nodes[0].key, node.key, EdgeKind.CALL, f":80 {node.name}") for node in nodes[1:]
    )
    return MeshGraph(nodes, edges)


def test_mermaid_escapes_every_name_and_label() -> None:
    text = graph_formats.mermaid(_hostile_graph())
    assert not any(raw in text for raw in RAW)
    lines = text.splitlines()
    assert len(lines) == 2 + 6 * 3 + 5  # header, 6 subgraphs of 3 lines, 5 edges: no line forged
    for line in lines:
        # A label is one quoted string: the only quotes are its own.
        assert line.count('"') in (0, 2), line
    assert "#34;" in text and "#124;" in text and "#10;" in text and "#8238;" in text
    assert "#35;amp" in text and "#60;" in text and "#96;" in text


def test_dot_escapes_every_name_and_label() -> None:
    text = graph_formats.dot(_hostile_graph())
    assert not any(raw in text for raw in RAW)
    assert 'URL="' not in text and '\\" URL=\\"javascript' in text
    assert "\\\\x1b" in text and "\\\\u202e" in text  # shown as escapes in the drawing


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_svg_of_hostile_names_has_no_link() -> None:
    svg = graph_formats.svg(_hostile_graph())
    assert "<a " not in svg and "xlink:href" not in svg and "href=" not in svg


def test_graph_on_stdout_prints_no_raw_control_byte(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule's path comes from an LDS anyone could edit: it reaches an edge's label."""
    for file in copy.glob("*/*-configmap-*-mesh-proxy.yaml"):
        text = file.read_text()
        if "/books-bought" in text:
            _edit(file, _replace_in_lds("/books-bought", f"/books{BIDI}\x1b[2J-bought"))
    for output in ("mermaid", "dot"):
        status, text = _run(["graph", str(copy), "--format", output], capsys)
        assert status == 0, text
        assert "books" in text and not any(raw in text for raw in RAW), repr(text)


def _replace_in_lds(old: str, new: str) -> Callable[[Document], None]:
    """An edit of a proxy ConfigMap: `old` replaced by `new` in every string of its LDS."""

    def change(document: Document) -> None:
        data = document["data"]
        for key in [k for k in data if k.startswith("lds")]:
            data[key] = yaml.safe_dump(_replaced(yaml.safe_load(data[key]), old, new))

    return change


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    return value


# --- 3. malformed documents are problems, not tracebacks ------------------------------------


def _bad_san_certificate(*, ca: bool = False) -> tuple[bytes, bytes]:
    """A certificate whose SubjectAlternativeName is garbage: cryptography raises ValueError
    when its extensions are read. And its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x01\x02garbage"),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _identity_secret(rendered: Path) -> Path:
    (file,) = rendered.glob("bookbuyer/*-secret-bookbuyer-mesh-identity.yaml")
    return file


def _put_bad_certificate(rendered: Path) -> None:
    _set_certificate(rendered, _bad_san_certificate()[0])


def _set_certificate(rendered: Path, pem: bytes) -> None:
    encoded = base64.b64encode(pem).decode()
    _edit(
        _identity_secret(rendered), lambda doc: doc["data"].update({names.CERT_CHAIN_FILE: encoded})
    )


MALFORMED: dict[str, Callable[[Path], None]] = {
    "configmap-metadata-list": lambda d: _add(
        d, {"kind": "ConfigMap", "metadata": [1], "data": {}}
    ),
    "configmap-data-string": lambda d: _add(
        d, {"kind": "ConfigMap", "metadata": {"name": "x-mesh-proxy"}, "data": "lds.yaml"}
    ),
    "configmap-file-not-text": lambda d: _set_file(d, "bookbuyer", names.LDS_FILE, 5),
    "secret-without-metadata": lambda d: _add(d, {"kind": "Secret", "data": {"tls.crt": ""}}),
    "secret-data-list": lambda d: _add(
        d, {"kind": "Secret", "metadata": {"name": "s"}, "data": [1]}
    ),
    "identity-certificate-bad-san": _put_bad_certificate,
    "bootstrap-node-scalar": lambda d: _set_file(d, "bookbuyer", names.BOOTSTRAP_FILE, "node: 5"),
    "bootstrap-node-missing": lambda d: _set_file(d, "bookbuyer", names.BOOTSTRAP_FILE, "{}"),
    "cds-without-resources": lambda d: _set_file(d, "bookbuyer", names.CDS_FILE, "resources: []"),
}
MALFORMED_CODES = {
    "secret-without-metadata": "inspect-render-name-invalid",
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("verb", ["graph", "proxy-config", "diff"])
def test_a_malformed_document_is_one_problem(
    case: str, verb: str, copy: Path, rendered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    MALFORMED[case](copy)
    argv = {
        "graph": ["graph", str(copy)],
        "proxy-config": ["proxy-config", str(copy), "--workload", "bookbuyer/bookbuyer"],
        "diff": ["diff", str(rendered), str(copy)],
    }[verb]
    if case == "cds-without-resources" and verb != "graph":
        # Only graph follows routes to their clusters; the others show the config as it is.
        assert _run(argv, capsys)[0] in (0, 1)
        return
    _refused(argv, MALFORMED_CODES.get(case, "inspect-render-unreadable"), capsys)


CERTS_MALFORMED: dict[str, tuple[Callable[[Path], None], str]] = {
    "labels-list": (
        lambda d: _add(d, {"kind": "Secret", "metadata": {"labels": [1]}}),
        "inspect-render-unreadable",
    ),
    "metadata-list": (
        lambda d: _add(d, {"kind": "Secret", "metadata": [1]}),
        "inspect-render-unreadable",
    ),
    "identity-without-name": (
        lambda d: _edit(_identity_secret(d), lambda doc: doc["metadata"].pop("name")),
        "inspect-render-name-invalid",
    ),
    "identity-name-with-escapes": (
        lambda d: _set_metadata(_identity_secret(d), "name", "a\x1b[2Jb"),
        "inspect-render-name-invalid",
    ),
    "identity-certificate-bad-san": (_put_bad_certificate, "certificate-unreadable"),
}


@pytest.mark.parametrize("case", list(CERTS_MALFORMED))
def test_certs_status_of_a_malformed_secret_is_one_problem(
    case: str, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, code = CERTS_MALFORMED[case]
    edit(copy)
    _refused(["certs", "status", str(copy)], code, capsys)


def test_ca_rotate_to_a_certificate_with_a_malformed_san_is_one_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.secret.yaml"
    assert main(["ca", "init", "--ca-file", str(ca)]) == 0
    before = ca.read_bytes()
    certificate, key = _bad_san_certificate(ca=True)
    (tmp_path / "bad.crt").write_bytes(certificate)
    (tmp_path / "bad.key").write_bytes(key)
    capsys.readouterr()
    argv = ["ca", "rotate", "--ca-file", str(ca), "--certificate", str(tmp_path / "bad.crt")]
    _refused([*argv, "--key", str(tmp_path / "bad.key")], "ca-certificate-unreadable", capsys)
    assert ca.read_bytes() == before


# --- 4. bidi controls are escaped in tables -------------------------------------------------


def test_printable_escapes_bidi_controls() -> None:
    controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    shown = printable(f"a{controls}b")
    assert shown == "a" + "".join(f"\\u{ord(c):04x}" for c in controls) + "b"
    assert printable("café ✓ 名前") == "café ✓ 名前"


def test_diff_prints_no_raw_bidi_control(
    copy: Path, rendered: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(_proxy_config_map(copy, "bookstore-v1"), _replace_in_lds("/books-bought", f"/b{BIDI}x"))
    status, text = _run(["diff", str(rendered), str(copy)], capsys)
    assert status == 1 and "\\u202e" in text and BIDI not in text


def test_certs_status_prints_no_raw_bidi_control(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = f"evil\x1b[31m{BIDI}gpj.exe"
    certificate, _ = self_signed_ca(key, name, days=300, uri="spiffe://a\x1b[2J/b")
    _set_certificate(copy, certificate)
    status, text = _run(["certs", "status", str(copy)], capsys)
    assert status == 0, text
    assert "\\u202e" in text and not any(raw in text for raw in RAW), repr(text)


# --- 5. explain --to HOST:PORT --------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "bookstore.bookstore:\u0664",  # an Arabic-Indic 4
        "bookstore.bookstore:\uff11\uff14",  # fullwidth digits
        "::::::::80",
        "[fe80::1%eth0\x1b]:80",
        "999.1.1.1:80",
        "book store:80",
        "bookstore.bookstore:" + "1" * 5000,
        "bookstore..bookstore:80",
        f"bookstore{BIDI}:80",
    ],
)
def test_explain_refuses_a_target_that_is_no_host_and_port(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain", str(BOOKSTORE), "--from", "bookbuyer/bookbuyer", "--to", target]
    _refused(argv, "inspect-bad-target", capsys)


@pytest.mark.parametrize(
    "target", ["bookstore.bookstore:14001", "Bookstore.Bookstore.:14001", "10.0.0.1:80", "[::1]:80"]
)
def test_explain_takes_a_dns_name_or_an_ip_address(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain", str(BOOKSTORE), "--from", "bookbuyer/bookbuyer", "--to", target]
    assert _run(argv, capsys)[0] in (0, 1)


# --- 6. REV:path reads a bounded, contained tree --------------------------------------------

_GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "core.symlinks=true"]


def _commit(repository: Path) -> None:
    subprocess.run(["git", "init", "-q", str(repository)], check=True)
    subprocess.run([*_GIT, "-C", str(repository), "add", "-A"], check=True)
    subprocess.run([*_GIT, "-C", str(repository), "commit", "-q", "-m", "x"], check=True)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../etc"])
def test_a_committed_link_out_of_the_tree_is_one_problem(
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tree = tmp_path / "repo" / "mesh"
    tree.mkdir(parents=True)
    (tree / "mesh.yaml").write_text((BOOKSTORE / "mesh.yaml").read_text())
    (tree / "escape").symlink_to(target)
    _commit(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    text = _refused(["graph", "HEAD:mesh"], "inspect-git-unreadable", capsys)
    assert "extracted safely" in text


def test_a_tree_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "mesh.yaml").write_text((BOOKSTORE / "mesh.yaml").read_text())
    (repository / "big.bin").write_bytes(os.urandom(300_000))
    _commit(repository)
    monkeypatch.chdir(repository)
    monkeypatch.setattr(sources, "MAX_GIT_ARCHIVE_BYTES", 100_000)
    monkeypatch.setattr(sources, "_CHUNK", 4096)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    text = _refused(["graph", "HEAD:."], "inspect-git-unreadable", capsys)
    assert "more than 100000 bytes" in text
    assert list(scratch.iterdir()) == []  # the partial archive is gone


def test_a_tree_within_the_limit_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    (repository / "mesh.yaml").write_text((BOOKSTORE / "mesh.yaml").read_text())
    _commit(repository)
    monkeypatch.chdir(repository)
    assert _run(["diff", "HEAD:mesh.yaml", str(BOOKSTORE)], capsys)[0] == 0


# --- 7. directory scans: no links followed, bounded depth, regular files only ---------------


def test_a_render_directory_nested_too_deep_is_one_problem(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,500 levels: a recursive walk (rglob) ran out of stack."""
    levels = [copy / ("d/" * depth) for depth in range(1, 1501)]
    for level in levels:  # pathlib and shutil recurse: made and removed one level at a time
        level.mkdir()
    (levels[-1] / "x.yaml").write_text("kind: ConfigMap\n")
    try:
        _refused(["graph", str(copy)], "file-too-deep", capsys)
        _refused(["certs", "status", str(copy)], "file-too-deep", capsys)
    finally:
        (levels[-1] / "x.yaml").unlink()
        for level in reversed(levels):
            level.rmdir()


def test_a_link_loop_and_a_fifo_in_a_render_directory_are_not_followed(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "loop").symlink_to(".")
    os.mkfifo(copy / "bookbuyer" / "blocks.yaml")
    assert _run(["graph", str(copy)], capsys)[0] == 0
    assert _run(["certs", "status", str(copy)], capsys)[0] == 0


def test_a_linked_yaml_file_in_a_render_directory_is_one_problem(
    copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text("kind: Secret\n")
    (copy / "bookbuyer" / "linked.yaml").symlink_to(secret)
    _refused(["graph", str(copy)], "file-is-link", capsys)
    _refused(["certs", "status", str(copy)], "file-is-link", capsys)
