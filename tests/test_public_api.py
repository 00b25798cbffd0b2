"""The public surface is small, sorted and importable; everything else is private."""

from __future__ import annotations

from importlib.resources import files

import mesh_components


def test_all_is_sorted_and_every_name_exists() -> None:
    assert mesh_components.__all__ == sorted(mesh_components.__all__)
    missing = [name for name in mesh_components.__all__ if not hasattr(mesh_components, name)]
    assert missing == []


def test_the_package_ships_type_information() -> None:
    assert files("mesh_components").joinpath("py.typed").is_file()
