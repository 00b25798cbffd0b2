"""Small Pulumi projects written into a temporary directory for the recording engine's tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

READER = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]

WEB = """
import pulumi
import pulumi_kubernetes as k8s

labels = {"app": "web"}
PORTS = [{"containerPort": 80}]
config = pulumi.Config()
replicas = config.get_int("replicas") or 1
ns = k8s.core.v1.Namespace("web")
k8s.apps.v1.Deployment(
    "web",
    metadata={"namespace": ns.metadata.name, "labels": labels},
    spec={
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": PORTS}]},
        },
    },
)
service = k8s.core.v1.Service(
    "web",
    metadata={"namespace": ns.metadata.name},
    spec={"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 80}]},
)
headless = k8s.core.v1.Service(
    "web-pods",
    metadata={"name": "web-pods", "namespace": ns.metadata.name},
    spec={"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]},
)
k8s.core.v1.ConfigMap(
    "settings", metadata={"name": "settings"}, data={"greeting": config.get("greeting") or "hi"}
)
pulumi.export("namespace", ns.metadata.name)
pulumi.export("clusterIP", service.spec.cluster_ip)
pulumi.export("serviceId", service.id)
pulumi.export("dryRun", pulumi.runtime.is_dry_run())
pulumi.export("stackAndProject", f"{pulumi.get_stack()}/{pulumi.get_project()}")
"""


def project(
    root: Path,
    program: str,
    *,
    name: str = "demo",
    stacks: dict[str, dict[str, Any]] | None = None,
    files: dict[str, str] | None = None,
    project_config: dict[str, Any] | None = None,
) -> Path:
    """A Python Pulumi project in `root/name`: `program` as its __main__.py, a Pulumi.<stack>.yaml
    per entry of `stacks` ({stack: {key: value}}), and any sibling `files`."""
    directory = root / name
    directory.mkdir(parents=True)
    meta: dict[str, Any] = {"name": name, "runtime": "python"}
    if project_config:
        meta["config"] = project_config
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(meta))
    (directory / "__main__.py").write_text(textwrap.dedent(program))
    for stack, values in (stacks or {}).items():
        (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": values}))
    for relative, text in (files or {}).items():
        (directory / relative).write_text(textwrap.dedent(text))
    return directory
