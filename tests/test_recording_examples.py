"""The root program and every Python example render under the recording engine, as `render`
runs them: schema-valid objects, and the composition's platform outputs feed its app stack."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from mesh_components.recording import kubernetes_objects, record
from mesh_components.recording.stack_outputs import document
from tests.test_pulumi_components import CA_TEXT

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize(
    ("project", "config"),
    [
        (ROOT, {}),
        (EXAMPLES / "canary", {"canaryWeight": "10"}),
        (EXAMPLES / "tcp", {}),
        (EXAMPLES / "composition" / "platform", {}),
    ],
    ids=["root", "canary", "tcp", "platform"],
)
def test_the_program_renders_to_schema_valid_objects(project: Path, config: dict[str, str]) -> None:
    recording = record(project, config={"ca": CA_TEXT, **config})
    objects = [found.object for found in kubernetes_objects(recording)]
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, "1.31", strict=True)


def test_the_app_stack_renders_from_the_platform_stacks_outputs(tmp_path: Path) -> None:
    platform = record(EXAMPLES / "composition" / "platform", config={"ca": CA_TEXT})
    outputs = tmp_path / "platform.json"
    outputs.write_text(json.dumps(document(platform.exports)))
    app = record(
        EXAMPLES / "composition" / "app",
        config={"platformStack": "org/platform/dev"},
        stack_references={"org/platform/dev": outputs},
    )
    kinds = {found.object["kind"] for found in kubernetes_objects(app)}
    assert {"ConfigMap", "Secret", "Deployment", "Service"} <= kinds
    assert "Namespace" not in kinds  # the platform owns it
