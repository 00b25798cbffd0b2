"""Hostile files against every verb that reads them, as an attacker would write them.

Each case puts one hostile file where a verb reads its input (a spec, manifests, a CA file, a
render directory, a Pulumi.yaml, a stack reference), runs the CLI in-process, and asserts:
- exit 2 with a problem, and no exception out of `main` (no traceback);
- nothing written outside `-o`, and nothing that existed before changed;
- no secret printed (the CA seeds involved);
- no hang (an alarm ends a case after CASE_SECONDS).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh_components.cli import main
from mesh_components.limits import MAX_INPUT_BYTES
from tests.foreign_ca import self_signed_ca
from tests.time_limit import time_limit

ROOT = Path(__file__).resolve().parents[1]
BOOKSTORE = ROOT / "examples" / "bookstore"
COMPOSITION_APP = ROOT / "examples" / "composition" / "app"
OSM_DEMO = ROOT.parent / "shared" / "reference" / "osm-demo"
CASE_SECONDS = 60
PLATFORM_STACK = "organization/mesh-platform/dev"


def _bomb() -> bytes:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return ("\n".join(lines) + "\n").encode()


def _deep_block(depth: int) -> bytes:
    return "".join(f"{'  ' * level}k{level}:\n" for level in range(depth)).encode() + b"x: 1\n"


# Files no input should accept, whatever it is.
GENERIC: dict[str, bytes] = {
    "alias-bomb": _bomb(),
    "deep-block": _deep_block(600),
    "deep-flow": b"a: " + b"[" * 600 + b"]" * 600 + b"\n",
    "not-utf8": b"mesh:\n  name: caf\xe9\n",
    "duplicate-key": b"mesh:\n  name: a\n  mtls: strict\n  mtls: permissive\n",
    "recursive-alias": b"mesh: &x {name: m, proxy: *x}\n",
    "terminal-escapes": b'mesh: {name: "evil\\e[2J\\e]0;pwned\\a\\rX"}\n',
    "binary": bytes(range(256)) * 4,
    "empty": b"",
    "scalar": b"just text\n",
    "list": b"- 1\n- 2\n",
    "huge-numbers": b"mesh: {name: m}\nworkloads: 1e999999\nservices: 999999999999999999999999\n",
    "far-date": b"mesh: {name: m, since: 99999-01-01}\n",
    "too-large": b"# " + b"x" * MAX_INPUT_BYTES + b"\n",
}

SPEC_SPECIFIC: dict[str, bytes] = {
    "spec-path-traversal": (
        b"mesh: {name: m}\nworkloads:\n  - {name: ../../../escaped, namespace: /tmp/abs, "
        b"serviceAccount: w, image: x}\n"
    ),
    "spec-escape-names": (
        b'mesh: {name: m}\nworkloads:\n  - {name: "w\\e[31m", namespace: "n\\r"}\n'
    ),
    "spec-lifetime-overflow": (BOOKSTORE / "mesh.yaml")
    .read_bytes()
    .replace(
        b"mesh:\n", b"mesh:\n  certificates: {validityHours: 1000000000000, renewBeforeHours: 1}\n"
    ),
}

MANIFEST_SPECIFIC: dict[str, bytes] = {
    "manifest-path-traversal": yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "../../../escaped", "namespace": "/tmp/abs"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}},
        }
    ).encode(),
    "manifest-without-name": b"apiVersion: v1\nkind: Service\nmetadata: {namespace: n}\n",
    "manifest-escape-name": b'apiVersion: v1\nkind: Service\nmetadata: {name: "a\\e[2Jb"}\n',
}


def _render_dir_specific() -> dict[str, str]:
    """Rendered proxy ConfigMaps whose LDS has the wrong shape."""
    return {
        "lds-not-a-mapping": "[1, 2]",
        "lds-resources-scalar": "resources: 5",
        "lds-resource-scalars": "resources: [1, 2]",
        "lds-listener-wrong-types": "resources: [{name: 1, address: 5, filter_chains: x}]",
    }


# Hostile files a verb may rightly ignore, or rightly accept: a render directory's files
# that are no Kubernetes object, an LDS that `certs status` never reads, and a weak CA that
# `ca rotate` is exactly the way out of.
HARMLESS = {
    *(
        ("render-dir", name)
        for name in ("empty", "scalar", "list", "terminal-escapes", "huge-numbers", "far-date")
    ),
    *(("render-dir", "certs-status", name) for name in _render_dir_specific()),
    ("ca", "ca-rotate", "ca-rsa-1024"),
}


@dataclass(frozen=True)
class Good:
    """Valid inputs the hostile one is paired with, made once per module."""

    ca: Path
    seeds: tuple[str, ...]
    render_dir: Path
    weak_ca: tuple[bytes, bytes]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    base = tmp_path_factory.mktemp("good")
    ca, rendered = base / "ca.secret.yaml", base / "rendered"
    assert (
        main(["render", str(BOOKSTORE), "-o", str(rendered), "--ca-file", str(ca), "--new-ca"]) == 0
    )
    seed = yaml.safe_load(ca.read_text())["seed"]
    return Good(ca, (seed,), rendered, _weak_ca())


def _weak_ca() -> tuple[bytes, bytes]:
    return self_signed_ca(rsa.generate_private_key(public_exponent=65537, key_size=1024), "weak")


def _ca_specific(good: Good) -> dict[str, bytes]:
    text = good.ca.read_text()
    seed = good.seeds[0]
    certificate, key = good.weak_ca
    return {
        "ca-exposed": text.encode(),  # written 0644 below
        "ca-short-seed": text.replace(seed, seed[:16]).encode(),
        "ca-seed-not-hex": text.replace(seed, "z" * len(seed)).encode(),
        "ca-far-date": yaml.safe_dump(
            {"seed": seed, "notBefore": "9999-12-31T00:00:00+00:00"}
        ).encode(),
        "ca-rsa-1024": yaml.safe_dump(
            {"certificate": certificate.decode(), "key": key.decode()}
        ).encode(),
        "ca-no-zone": yaml.safe_dump({"seed": seed, "notBefore": "2026-01-01T00:00:00"}).encode(),
    }


# Where a hostile file goes, and the commands that read it there. Each builder gets the
# hostile path, the output path and the good inputs, and returns argv.
Builder = Callable[[Path, Path, Good], list[str]]

SPEC_VERBS: dict[str, Builder] = {
    "validate": lambda p, o, g: ["validate", str(p)],
    "compile": lambda p, o, g: ["compile", str(p), "-o", str(o)],
    "render": lambda p, o, g: ["render", str(p), "-o", str(o), "--ca-file", str(g.ca)],
    "graph": lambda p, o, g: ["graph", str(p), "-o", str(o / "mesh.dot")],
    "proxy-config": lambda p, o, g: ["proxy-config", str(p), "--workload", "bookbuyer/bookbuyer"],
    "explain": lambda p, o, g: [
        "explain",
        str(p),
        "--from",
        "bookbuyer/bookbuyer",
        "--to",
        "bookstore.bookstore:14001",
    ],
    "diff": lambda p, o, g: ["diff", str(BOOKSTORE), str(p)],
    "inject-mesh": lambda p, o, g: [
        "inject",
        "-f",
        str(OSM_DEMO / "apps-bookbuyer.yaml"),
        "--mesh",
        str(p),
        "--ca-file",
        str(g.ca),
    ],
    "ca-status-mesh": lambda p, o, g: ["ca", "status", "--ca-file", str(g.ca), "--mesh", str(p)],
}
MANIFEST_VERBS: dict[str, Builder] = {
    "inject": lambda p, o, g: [
        "inject",
        "-f",
        str(p),
        "--mesh",
        str(BOOKSTORE),
        "--ca-file",
        str(g.ca),
    ],
    "import": lambda p, o, g: ["import", str(p.parent), "-o", str(o)],
    "render-manifests": lambda p, o, g: [
        "render",
        str(p.parent),
        "-o",
        str(o),
        "--ca-file",
        str(g.ca),
    ],
}
CA_VERBS: dict[str, Builder] = {
    "render": lambda p, o, g: ["render", str(BOOKSTORE), "-o", str(o), "--ca-file", str(p)],
    "inject": lambda p, o, g: [
        "inject",
        "-f",
        str(OSM_DEMO / "apps-bookbuyer.yaml"),
        "--mesh",
        str(BOOKSTORE),
        "--ca-file",
        str(p),
    ],
    "ca-status": lambda p, o, g: ["ca", "status", "--ca-file", str(p), "--mesh", str(BOOKSTORE)],
    "ca-rotate": lambda p, o, g: ["ca", "rotate", "--ca-file", str(p)],
}
RENDER_DIR_VERBS: dict[str, Builder] = {
    "certs-status": lambda p, o, g: ["certs", "status", str(p)],
    "proxy-config": lambda p, o, g: ["proxy-config", str(p), "--workload", "bookbuyer/bookbuyer"],
    "diff": lambda p, o, g: ["diff", str(g.render_dir), str(p)],
    "explain": lambda p, o, g: [
        "explain",
        str(p),
        "--from",
        "bookbuyer/bookbuyer",
        "--to",
        "bookstore.bookstore:14001",
    ],
    "graph": lambda p, o, g: ["graph", str(p), "-o", str(o / "mesh.dot")],
}
PROJECT_VERBS: dict[str, Builder] = {
    "render": lambda p, o, g: ["render", str(p), "-o", str(o), "--ca-file", str(g.ca)],
    "proxy-config": lambda p, o, g: ["proxy-config", str(p), "--workload", "bookbuyer/bookbuyer"],
}


def _cases() -> Iterator[object]:
    for verb in SPEC_VERBS:
        for name in [*GENERIC, *SPEC_SPECIFIC]:
            yield pytest.param("spec", verb, name, id=f"spec-{verb}-{name}")
    for verb in MANIFEST_VERBS:
        for name in [*GENERIC, *MANIFEST_SPECIFIC]:
            yield pytest.param("manifests", verb, name, id=f"manifests-{verb}-{name}")
    for verb in CA_VERBS:
        for name in [
            *GENERIC,
            "ca-exposed",
            "ca-short-seed",
            "ca-seed-not-hex",
            "ca-far-date",
            "ca-rsa-1024",
            "ca-no-zone",
        ]:
            yield pytest.param("ca", verb, name, id=f"ca-{verb}-{name}")
    for verb in RENDER_DIR_VERBS:
        for name in [*GENERIC, *_render_dir_specific()]:
            yield pytest.param("render-dir", verb, name, id=f"render-dir-{verb}-{name}")
    for verb in PROJECT_VERBS:
        for name in GENERIC:
            yield pytest.param("pulumi-yaml", verb, name, id=f"pulumi-yaml-{verb}-{name}")
    for name in GENERIC:
        yield pytest.param("stack-reference", "render", name, id=f"stack-reference-{name}")


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, str]]:
    """Every file and directory under `root` but `skip`: its mode and content hash."""
    found: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            dirnames.clear()
            continue
        for name in [*dirnames, *filenames]:
            path = here / name
            if path == skip:
                continue
            mode = path.lstat().st_mode
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(mode) else ""
            found[str(path.relative_to(root))] = (mode, digest)
    return found


def _place(kind: str, name: str, workspace: Path, good: Good) -> tuple[Path, Builder]:
    """Write the hostile file where `kind` reads it; the path to pass and the verb table."""
    if kind == "spec":
        content = {**GENERIC, **SPEC_SPECIFIC}[name]
        path = workspace / "mesh.yaml"
        path.write_bytes(content)
        return path, SPEC_VERBS  # type: ignore[return-value]
    if kind == "manifests":
        folder = workspace / "manifests"
        folder.mkdir()
        path = folder / "app.yaml"
        path.write_bytes({**GENERIC, **MANIFEST_SPECIFIC}[name])
        return path, MANIFEST_VERBS  # type: ignore[return-value]
    if kind == "ca":
        path = workspace / "ca.secret.yaml"
        path.write_bytes({**GENERIC, **_ca_specific(good)}[name])
        path.chmod(0o644 if name == "ca-exposed" else 0o600)
        return path, CA_VERBS  # type: ignore[return-value]
    if kind == "render-dir":
        path = workspace / "rendered"
        shutil.copytree(good.render_dir, path)
        lds = _render_dir_specific().get(name)
        if lds is None:
            (path / "bookbuyer" / "zz-hostile.yaml").write_bytes(GENERIC[name])
        else:
            _replace_lds(path, lds)
        return path, RENDER_DIR_VERBS  # type: ignore[return-value]
    if kind == "pulumi-yaml":
        path = workspace / "project"
        path.mkdir()
        (path / "Pulumi.yaml").write_bytes(GENERIC[name])
        (path / "__main__.py").write_text("import pulumi\n")
        return path, PROJECT_VERBS  # type: ignore[return-value]
    path = workspace / "platform-outputs"
    path.write_bytes(GENERIC[name])
    return path, {"render": _render_with_reference}  # type: ignore[return-value]


def _render_with_reference(path: Path, out: Path, good: Good) -> list[str]:
    return [
        "render",
        str(COMPOSITION_APP),
        "-o",
        str(out),
        "--ca-file",
        str(good.ca),
        f"--config=platformStack={PLATFORM_STACK}",
        f"--stack-reference={PLATFORM_STACK}={path}",
    ]


def _replace_lds(rendered: Path, lds: str) -> None:
    (file,) = rendered.glob("bookbuyer/*-configmap-bookbuyer-mesh-proxy.yaml")
    document = yaml.safe_load(file.read_text())
    lds_keys = [key for key in document["data"] if key.startswith("lds")]
    assert lds_keys, "the proxy ConfigMap has an LDS file"
    for key in lds_keys:
        document["data"][key] = lds
    file.write_text(yaml.safe_dump(document))


@pytest.mark.parametrize(("kind", "verb", "name"), list(_cases()))
def test_hostile_input_is_refused_cleanly(
    kind: str,
    verb: str,
    name: str,
    *,
    good: Good,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    path, verbs = _place(kind, name, workspace, good)
    out = workspace / "out"
    argv = verbs[verb](path, out, good)  # type: ignore[index]
    monkeypatch.chdir(workspace)
    before = _snapshot(tmp_path, out)
    good_ca = good.ca.read_bytes()

    code = _run_with_alarm(argv)

    printed = capsys.readouterr()
    text = printed.out + printed.err
    harmless = (kind, name) in HARMLESS or (kind, verb, name) in HARMLESS
    if harmless:  # explain's 1 is a verdict: the request would be denied
        assert code in (0, 1, 2) if verb == "explain" else code in (0, 2), f"{argv}\n{text}"
    else:
        assert code == 2, f"{argv}\n{text}"
        assert "problem" in text or "error:" in text, text
    assert "Traceback (most recent call last)" not in text
    after = _snapshot(tmp_path, out)
    if harmless and verb == "ca-rotate":  # the file it was asked to advance
        after.pop("workspace/ca.secret.yaml")
        before.pop("workspace/ca.secret.yaml")
    assert after == before, "a file outside -o was written or changed"
    assert not Path("/tmp/abs").exists()
    assert good.ca.read_bytes() == good_ca
    for seed in good.seeds:
        assert seed not in text and seed[:16] not in text, "a CA seed was printed"
    assert "\x1b" not in text and "\r" not in text, "a control byte was printed raw"


def _run_with_alarm(argv: list[str]) -> int:
    with time_limit(CASE_SECONDS, argv):
        try:
            return main(argv)
        except SystemExit as exited:  # argparse
            return int(exited.code or 0)
