"""The one reader of input files: bounded size, UTF-8, strict and bounded YAML and JSON."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mesh_components import inputs
from mesh_components.errors import MeshValidationError, Problem
from mesh_components.limits import (
    MAX_DIRECTORY_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_INPUT_BYTES,
    MAX_NESTING,
)


def _problem(call: object, *args: object, **kwargs: object) -> Problem:
    with pytest.raises(MeshValidationError) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    (problem,) = raised.value.problems
    return problem


def test_a_billion_laughs_is_refused_at_once_without_building_it() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    started = time.monotonic()
    problem = _problem(inputs.parse_yaml, "\n".join(lines), "bomb.yaml")
    assert time.monotonic() - started < 1
    assert (problem.path, problem.code) == ("bomb.yaml", "file-too-many-aliases")
    assert str(MAX_EXPANDED_NODES) in problem.expected


def test_aliases_that_expand_modestly_are_fine() -> None:
    text = "base: &base {image: x, ports: [1, 2]}\na: *base\nb: {<<: *base, image: y}\n"
    assert inputs.parse_yaml(text, "f") == {
        "base": {"image": "x", "ports": [1, 2]},
        "a": {"image": "x", "ports": [1, 2]},
        "b": {"image": "y", "ports": [1, 2]},
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),
        "".join(f"{'  ' * n}k{n}:\n" for n in range(600)) + "x: 1\n",
    ],
    ids=["flow", "block-600"],
)
def test_nesting_deeper_than_the_limit_is_refused(text: str) -> None:
    assert _problem(inputs.parse_yaml, text, "f").code == "file-too-deep"


def test_nesting_at_the_limit_is_read() -> None:
    depth = MAX_NESTING - 1  # the top-level mapping is one level too
    assert inputs.parse_yaml("a: " + "[" * depth + "]" * depth, "f") is not None


def test_a_key_given_twice_names_both_lines() -> None:
    problem = _problem(inputs.parse_yaml, "mesh:\n  mtls: strict\n  mtls: permissive\n", "m")
    assert problem.code == "file-duplicate-key"
    assert "'mtls' twice, on lines 2 and 3" in problem.found


def test_a_recursive_alias_is_refused() -> None:
    assert _problem(inputs.parse_yaml, "a: &x [*x]\n", "f").found == "a recursive alias"


def test_a_yaml_syntax_error_says_where_and_where_its_context_began() -> None:
    problem = _problem(inputs.parse_yaml, "mesh:\n  name: [m\n", "f")
    assert problem.code == "file-malformed"
    assert "line 3, column 1" in problem.found and "starts at line 2" in problem.found


def test_a_secret_files_syntax_error_quotes_nothing_of_it() -> None:
    problem = _problem(inputs.parse_yaml, "seed: abc: def\n", "ca", secret=True)
    assert problem.found == "a syntax error at line 1, column 10"


def test_several_documents_where_one_is_expected_are_refused() -> None:
    assert _problem(inputs.parse_yaml, "a: 1\n---\nb: 2\n", "f").code == "file-malformed"
    assert inputs.parse_yaml_all("a: 1\n---\n---\nb: 2\n", "f") == [{"a": 1}, {"b": 2}]


def test_json_gets_the_same_checks() -> None:
    assert _problem(inputs.parse_json, '{"a": 1, "a": 2}', "f").code == "file-duplicate-key"
    assert _problem(inputs.parse_json, "[" * 100_000 + "]" * 100_000, "f").code == "file-too-deep"
    assert _problem(inputs.parse_json, "{", "f").code == "file-malformed"
    assert inputs.parse_json('{"a": [1, {"b": null}]}', "f") == {"a": [1, {"b": None}]}


def test_a_byte_that_is_not_utf8_is_named_with_its_offset_and_line(tmp_path: Path) -> None:
    file = tmp_path / "mesh.yaml"
    file.write_bytes(b"mesh:\n  name: caf\xe9\n")
    problem = _problem(inputs.read_yaml, file)
    assert (problem.path, problem.code) == (str(file), "file-not-utf8")
    assert problem.found == "byte 0xe9 at offset 17 (line 2)"


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    with file.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES * 4)  # sparse: only the limit's worth is read
    assert _problem(inputs.read_text, file).code == "file-too-large"


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_an_unreadable_path_is_a_problem(tmp_path: Path, make: str) -> None:
    path = tmp_path / "x"
    if make == "directory":
        path.mkdir()
    problem = _problem(inputs.read_text, path)
    assert problem.code == "file-unreadable" and problem.fix == "check the path"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "mesh.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    problem = _problem(inputs.read_text, fifo)
    assert time.monotonic() - started < 1
    assert problem.code == "file-unreadable" and "not a regular file" in problem.found


def test_integers_too_long_to_be_numbers_are_refused_before_python_converts_them() -> None:
    for text in ("port: " + "9" * 5000, "port: 0x" + "f" * 4000):
        problem = _problem(inputs.parse_yaml, text, "f")
        assert problem.code == "file-malformed" and "characters" in problem.expected


def test_a_secret_files_duplicate_key_is_not_quoted() -> None:
    seed = "ab" * 32
    problem = _problem(inputs.parse_yaml, f"{seed}: 1\n{seed}: 2\n", "ca", secret=True)
    assert problem.code == "file-duplicate-key" and seed not in str(problem)
    assert problem.found == "a key twice, on lines 1 and 2"


def test_files_under_walks_without_links_hidden_files_or_recursion(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.yaml").write_text("a: 1\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.yaml").write_text("a: 1\n")
    (tmp_path / "notes.txt").write_text("")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "loop").symlink_to(tmp_path)  # a link to a directory is not followed
    assert inputs.files_under(tmp_path, (".yaml",)) == [tmp_path / "a" / "x.yaml"]


def test_files_under_refuses_a_link_to_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "ca.secret.yaml"
    secret.write_text("seed: x\n")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "app.yaml").symlink_to(secret)
    with pytest.raises(MeshValidationError) as raised:
        inputs.files_under(tmp_path / "manifests", (".yaml",))
    assert raised.value.codes == ("file-is-link",)


def test_files_under_refuses_directories_nested_too_deep(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * (MAX_DIRECTORY_DEPTH + 2))
    deep.mkdir(parents=True)
    with pytest.raises(MeshValidationError) as raised:
        inputs.files_under(tmp_path, (".yaml",))
    assert raised.value.codes == ("file-too-deep",)
