"""YAML text as a reviewer reads it: block style, multi-line strings as literal blocks.

Every file we write goes through here, so the same value always gives the same bytes. The
emitter is libyaml's when PyYAML has it (about 4x faster, and byte-identical on every golden
file), else PyYAML's own.
"""

from __future__ import annotations

from typing import Any

import yaml

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[valid-type, misc]
    """A safe dumper that writes multi-line strings (scripts, embedded YAML) as `|` blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _string)


def dump(document: Any, *, sort_keys: bool) -> str:
    """`document` as block-style YAML; keys sorted, or in the order the emitter wrote them."""
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=sort_keys, default_flow_style=False, width=100
    )
