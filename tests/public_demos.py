"""The public demos of Istio and Linkerd (`tests/public_demos/`, as published), and how a new
user renders each of them: unedited, with only what `kubectl apply -n` and `osm namespace add`
would take on the command line."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from mesh_components.cli import main
from mesh_components.emit.kubernetes.metadata import Json

DEMOS = Path(__file__).parent / "public_demos"


@dataclass(frozen=True, slots=True)
class Demo:
    """One namespace's demo: its files and the flags it is rendered with."""

    namespace: str
    files: tuple[str, ...]
    in_namespace: bool = True
    """Whether it names no namespace itself, so it takes `-n` (emojivoto names its own)."""

    @property
    def flags(self) -> list[str]:
        place = ["-n", self.namespace] if self.in_namespace else []
        return [*place, "--namespaces", self.namespace]


BOOKINFO = Demo("bookinfo", ("istio-bookinfo/bookinfo.yaml",))
SAMPLES = Demo(
    "sample",
    ("istio-helloworld/helloworld.yaml", "istio-curl/curl.yaml", "istio-httpbin/httpbin.yaml"),
)
EMOJIVOTO = Demo("emojivoto", ("linkerd-emojivoto/emojivoto.yml",), in_namespace=False)
BOOKSAPP = Demo("booksapp", ("linkerd-booksapp/booksapp.yml",))
ALL = (BOOKINFO, SAMPLES, EMOJIVOTO, BOOKSAPP)


def render(demo: Demo, work: Path, ca: Path) -> list[Json]:
    """`render` the demo's files as a user would (a new CA unless `ca` exists); its objects."""
    source = work / f"{demo.namespace}-in"
    source.mkdir()
    for name in demo.files:
        shutil.copy(DEMOS / name, source / Path(name).name)
    out = work / f"{demo.namespace}-out"
    new_ca = [] if ca.exists() else ["--new-ca"]
    argv = ["render", str(source), "-o", str(out), "--ca-file", str(ca), *new_ca, *demo.flags]
    assert main(argv) == 0
    return [
        doc
        for file in sorted(out.rglob("*.yaml"))
        for doc in yaml.safe_load_all(file.read_text())
        if doc
    ]
