"""Why a regex cannot go to Envoy: it is empty, uses what RE2 lacks, or Python cannot compile it.

Envoy compiles `safe_regex` with RE2, which has no backtracking constructs; Python accepts them.
A lexical scan finds them before `re.compile` runs, and also rejects the sets Python reads
ambiguously (`[[`, `--`, `&&`), so its FutureWarning never escapes. Checked against Envoy 1.40.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_REPEAT = 1000  # RE2's limit on {n,m}
MAX_NESTING = 100  # far below RE2's 1000, and safely inside Python's recursion limit

_GROUPS = (
    ("(?<=", "a lookbehind '(?<=', which RE2 lacks"),
    ("(?<!", "a negative lookbehind '(?<!', which RE2 lacks"),
    ("(?=", "a lookahead '(?=', which RE2 lacks"),
    ("(?!", "a negative lookahead '(?!', which RE2 lacks"),
    ("(?P=", "a named backreference '(?P=', which RE2 lacks"),
    ("(?>", "an atomic group '(?>', which RE2 lacks"),
    ("(?(", "a conditional group '(?(', which RE2 lacks"),
    ("(?#", "a comment group '(?#', which RE2 lacks"),
)
_ESCAPES = {
    "Z": "'\\Z', which RE2 lacks (write '$')",
    "N": "a named character '\\N{...}', which RE2 lacks (write the character itself)",
    "u": "a '\\u' escape, which RE2 lacks (write the character itself)",
    "U": "a '\\U' escape, which RE2 lacks (write the character itself)",
}
_FLAGS = re.compile(r"\(\?([aiLmsux-]+)[:)]")
_PYTHON_ONLY_FLAGS = frozenset("aLux")
_REPEAT = re.compile(r"\{([0-9]*)(?:,([0-9]*))?\}")
_ESCAPED = re.compile(r"\\.", re.DOTALL)
_SET_OPERATORS = ("--", "&&", "~~", "||")


def regex_problem(pattern: str) -> str | None:
    """What makes Envoy reject `pattern`, or None when both RE2 and Python accept it."""
    if not pattern:
        return "an empty regex, which Envoy rejects (write '.*' to match anything)"
    unsupported = next(_unsupported(pattern), None)
    if unsupported is not None:
        return unsupported
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return f"not a regex Python can compile ({error})"
    return None


@dataclass(frozen=True, slots=True)
class _Token:
    size: int
    kind: str  # "atom", "quantifier", "open" or "close"
    unsupported: str = ""


def _unsupported(pattern: str) -> Iterator[str]:
    """Each construct RE2 lacks, scanning tokens left to right."""
    index, depth, after_quantifier = 0, 0, False
    while index < len(pattern):
        token = _token(pattern, index)
        if token.unsupported:
            yield token.unsupported
        if after_quantifier and pattern[index] == "+":
            yield "a possessive quantifier (a quantifier and '+'), which RE2 lacks"
        after_quantifier = token.kind == "quantifier" and not after_quantifier
        depth += {"open": 1, "close": -1}.get(token.kind, 0)
        if depth > MAX_NESTING:
            yield f"groups nested more than {MAX_NESTING} deep (simplify it)"
            return
        index += token.size


def _token(pattern: str, index: int) -> _Token:
    char = pattern[index]
    if char == "\\":
        return _escape(pattern[index + 1 : index + 2])
    if char == "[":
        return _char_class(pattern, index)
    if char == "(":
        return _group(pattern, index)
    if char == "{":
        return _repeat(pattern, index)
    kinds = {")": "close", "*": "quantifier", "+": "quantifier", "?": "quantifier"}
    return _Token(1, kinds.get(char, "atom"))


def _escape(letter: str) -> _Token:
    if letter in "123456789" and letter:
        return _Token(2, "atom", f"a backreference '\\{letter}', which RE2 lacks")
    return _Token(2, "atom", _ESCAPES.get(letter, ""))


def _group(pattern: str, index: int) -> _Token:
    for prefix, reason in _GROUPS:
        if pattern.startswith(prefix, index):
            return _Token(len(prefix), "open", reason)
    flags = _FLAGS.match(pattern, index)
    if flags is not None and _PYTHON_ONLY_FLAGS & set(flags.group(1)):
        reason = f"the inline flags {flags.group(1)!r}; RE2 lacks a, L, u and x"
        return _Token(2, "open", reason)
    return _Token(2 if pattern.startswith("(?", index) else 1, "open")


def _repeat(pattern: str, index: int) -> _Token:
    """`{m,n}` as Python reads it: anything else, `{}` included, is a literal '{'."""
    match = _REPEAT.match(pattern, index)
    if match is None or match.group(0) == "{}":
        return _Token(1, "atom")
    low, high = match.group(1), match.group(2) or ""
    if not low:
        return _Token(
            match.end() - index,
            "quantifier",
            "'{,n}', which RE2 reads as literal text (write '{0,n}')",
        )
    if any(len(n.lstrip("0")) > 4 or int(n) > MAX_REPEAT for n in (low, high) if n):
        return _Token(
            match.end() - index, "quantifier", f"a repeat count above RE2's limit of {MAX_REPEAT}"
        )
    return _Token(match.end() - index, "quantifier")


def _char_class(pattern: str, index: int) -> _Token:
    end = _class_end(pattern, index)
    body = pattern[index:end]
    escapes = [_ESCAPES[c] for c in re.findall(r"\\(.)", body, re.DOTALL) if c in "NuU"]
    plain = _ESCAPED.sub("e", body)
    if body.startswith("[["):
        reason = "'[[', ambiguous in Python and a POSIX class to RE2 (write '[\\[')"
    elif any(operator in plain for operator in _SET_OPERATORS):
        reason = "a doubled '-', '&', '~' or '|' in a set, ambiguous in Python (escape one)"
    else:
        reason = escapes[0] if escapes else ""
    return _Token(end - index, "atom", reason)


def _class_end(pattern: str, index: int) -> int:
    """Just past the ']' closing the set opened at `index` (a first ']' is a literal)."""
    at = index + 1
    at += pattern.startswith("^", at)
    at += pattern.startswith("]", at)
    while at < len(pattern) and pattern[at] != "]":
        at += 2 if pattern[at] == "\\" else 1
    return min(at + 1, len(pattern))
