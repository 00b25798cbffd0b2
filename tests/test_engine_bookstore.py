"""The root program under the real Pulumi engine and Kubernetes provider (render mode): `up`
writes what `render` writes, an unchanged program previews no change, a weight change touches
only bookbuyer's objects and reads as moved lines, certificates rotate only when the clock
enters the renewal window, and `destroy` removes everything `up` wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine import FAKETIME, ROOT, Result, Workspace, objects, render, require_tools
from tests.test_pulumi_components import CA_TEXT

pytestmark = pytest.mark.engine

MOVED_WEIGHTS = ("weight: 50 => 10", "weight: 50 => 90")


class Stack:
    """The root program's stack `name`, with its config and render directory."""

    def __init__(self, workspace: Workspace, name: str, out: Path, **config: str) -> None:
        self.workspace, self.name, self.out, self.config = workspace, name, out, config

    def run(
        self, operation: str, *flags: str, clock_offset: str | None = None, **config: str
    ) -> Result:
        """The operation with the stack's config, `config` over it; it must succeed."""
        result = self.workspace.run(
            operation,
            ROOT,
            stack=self.name,
            config={**self.config, **config},
            secrets={"ca": CA_TEXT},
            render_to=self.out,
            flags=flags,
            clock_offset=clock_offset,
        )
        assert result.ok, result.output
        return result

    def preview(self, clock_offset: str | None = None, **config: str) -> Result:
        """A `--json` preview: its steps say what each resource would go through."""
        return self.run("preview", "--json", clock_offset=clock_offset, **config)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    require_tools()
    return Workspace(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def rollout(workspace: Workspace) -> Stack:
    """The root program as it is, deployed: the default rollout mode."""
    stack = Stack(workspace, "dev", workspace.root / "rollout")
    stack.run("up")
    return stack


@pytest.fixture(scope="module")
def hot_reload(workspace: Workspace) -> Stack:
    """The root program in hot-reload mode, with the provider settings that mode needs."""
    settings = {
        "configUpdates": "hot-reload",
        "kubernetes:enableConfigMapMutable": "true",
        "kubernetes:enableSecretMutable": "true",
    }
    stack = Stack(workspace, "hot", workspace.root / "hot", **settings)
    stack.run("up")
    return stack


def _by_name(urns: dict[str, str]) -> dict[str, str]:
    """{type::name: op}, from full URNs."""
    return {urn.split("::", 2)[2].split("$")[-1]: op for urn, op in urns.items()}


def test_up_writes_the_objects_render_writes(rollout: Stack, tmp_path: Path) -> None:
    written = objects(rollout.out / "1-manifest")
    rendered = render(ROOT, tmp_path / "render", ca=CA_TEXT)
    assert written.keys() == rendered.keys()
    for key, obj in written.items():
        assert obj == rendered[key], key
    # 4 Namespaces, 6 ServiceAccounts, 5 Services and 4 headless companions, 6 proxy
    # ConfigMaps, 6 identity Secrets, 5 Deployments and 1 StatefulSet.
    assert len(written) == 37


def test_an_unchanged_program_previews_no_change_certificates_included(rollout: Stack) -> None:
    preview = rollout.preview()
    assert preview.steps, preview.output
    assert preview.changed() == {}


def test_a_weight_change_touches_only_bookbuyers_objects(rollout: Stack) -> None:
    preview = rollout.preview(bookstoreV2Weight="90")
    assert _by_name(preview.changed()) == {
        "kubernetes:core/v1:ConfigMap::bookbuyer/bookbuyer-mesh-proxy": "replace",
        "kubernetes:apps/v1:Deployment::bookbuyer": "update",
    }


def test_a_weight_change_reads_as_the_moved_weights(rollout: Stack) -> None:
    diff = rollout.run("preview", "--diff", bookstoreV2Weight="90")
    for line in MOVED_WEIGHTS:
        assert line in diff.stdout
    assert "bookbuyer-mesh-proxy" in diff.stdout
    assert "bookthief-mesh-proxy" not in diff.stdout


def test_in_hot_reload_mode_a_weight_change_updates_the_configmap_in_place(
    hot_reload: Stack,
) -> None:
    preview = hot_reload.preview(bookstoreV2Weight="90")
    assert _by_name(preview.changed()) == {
        "kubernetes:core/v1:ConfigMap::bookbuyer/bookbuyer-mesh-proxy": "update",
    }


def test_a_clock_in_the_renewal_window_changes_only_identities_and_their_pods(
    rollout: Stack,
) -> None:
    if not FAKETIME.exists():
        reason = "libfaketime is not installed (make test installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must move the clock")
        pytest.skip(reason)
    preview = rollout.preview(clock_offset="+61d")
    changed = _by_name(preview.changed())
    secrets = {name for name in changed if name.startswith("kubernetes:core/v1:Secret::")}
    assert len(secrets) == 6  # one per identity
    workloads = set(changed) - secrets
    assert workloads == {
        "kubernetes:apps/v1:Deployment::bookbuyer",
        "kubernetes:apps/v1:Deployment::bookthief",
        "kubernetes:apps/v1:Deployment::bookstore-v1",
        "kubernetes:apps/v1:Deployment::bookstore-v2",
        "kubernetes:apps/v1:Deployment::bookwarehouse",
        "kubernetes:apps/v1:StatefulSet::mysql",
    }


def test_destroy_removes_every_object_up_wrote(rollout: Stack) -> None:
    assert objects(rollout.out / "1-manifest")
    rollout.run("destroy")
    assert objects(rollout.out / "1-manifest") == {}
