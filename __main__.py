"""The Pulumi program for the bundled bookstore mesh.

A placeholder until the Pulumi components land (issue 5): today it compiles and validates the
bookstore spec, so `pulumi preview` fails loudly on an invalid mesh instead of deploying nothing.
"""

from pathlib import Path

from mesh_components.pipeline import build
from mesh_components.specfile import read_spec

build(read_spec(Path(__file__).parent / "examples" / "bookstore"))
