"""The fast YAML writer spells every document exactly as the YAML emitter does.

`yamltext.dump` writes plain documents itself and falls back to the emitter for anything it is
unsure of; these tests compare the two on random documents made to hit the emitter's corner
cases (quoting, literal blocks, folding at the line width, aliases, empty collections).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_components import yamltext

_TRICKY = (
    "",
    " ",
    "true",
    "False",
    "null",
    "~",
    "0",
    "012",
    "1.5",
    "1e3",
    ".inf",
    "2001-12-14",
    "yes",
    "- item",
    "a: b",
    "a:b",
    "key #comment",
    "#",
    "%RESPONSE_CODE%",
    "*alias",
    "&anchor",
    "!tag",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "{flow}",
    "[flow]",
    "a, b",
    "? q",
    "|",
    ">",
    "trailing ",
    " leading",
    "tab\there",
    "line\nbreak\n",
    "no final break\nhere",
    "two\n\nblank\n",
    " indented\nfirst\n",
    "kept\n\n",
    "trailing space \nline\n",
    "\n",
    "é unicode",
    "snow ☃",
    "x" * 99,
    "y" * 130,
    "spaced " * 20,
    "spiffe://cluster.local/ns/shop/sa/bookstore",
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "0.0.0.0",
    "/etc/mesh/config/lds.yaml",
    "^/items/[0-9]+$",
)
_strings = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=40), st.text(max_size=140))
_scalars = st.one_of(
    _strings,
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
_documents = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_strings, children, max_size=5),
    ),
    max_leaves=30,
)


def _both(document: Any, sort_keys: bool) -> tuple[str, str]:
    fast = yamltext.dump(document, sort_keys=sort_keys)
    emitter = yamltext._emitter_dump(document, sort_keys=sort_keys)
    return fast, emitter


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_strings, _documents, max_size=6), st.booleans())
def test_a_mapping_is_spelled_as_the_emitter_spells_it(document: Any, sort_keys: bool) -> None:
    fast, emitter = _both(document, sort_keys)
    assert fast == emitter


@settings(max_examples=200, deadline=None)
@given(st.lists(_documents, max_size=6), st.booleans())
def test_a_sequence_is_spelled_as_the_emitter_spells_it(document: Any, sort_keys: bool) -> None:
    fast, emitter = _both(document, sort_keys)
    assert fast == emitter


@given(st.sampled_from(_TRICKY), st.integers(0, 12))
def test_a_scalar_at_any_depth_is_spelled_as_the_emitter_spells_it(text: str, depth: int) -> None:
    document: Any = text
    for level in range(depth):
        document = {f"k{level}": document} if level % 3 else [document, {"s": text}]
    fast, emitter = _both({"root": document}, True)
    assert fast == emitter


def test_one_object_in_two_places_becomes_the_emitters_alias() -> None:
    shared = {"cluster_name": "x"}
    document = {"a": shared, "b": [shared], "c": [], "d": []}
    fast, emitter = _both(document, True)
    assert fast == emitter
    assert "&id001" in fast


def test_the_fast_path_writes_envoy_sized_documents_itself() -> None:
    cluster = {
        "name": "shop/bookstore|8080",
        "connect_timeout": "5s",
        "load_assignment": {"endpoints": [{"lb_endpoints": [{"endpoint": {"port": 8080}}]}]},
        "body": "this host is not a mesh destination that this workload may call\n",
    }
    document = {"resources": [cluster, copy.deepcopy(cluster)]}
    assert yamltext._FastWriter(True).document(document) == yamltext._emitter_dump(
        document, sort_keys=True
    )
