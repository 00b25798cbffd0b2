"""Why a regex cannot go to Envoy: RE2 itself refuses it, or it compiles past Envoy's size limit.

Envoy compiles `safe_regex` with RE2, so the verdict comes from RE2 (the `google-re2` package),
not from Python's `re`, whose syntax differs. One spelling RE2 accepts but reads unlike most
regex engines, `{,n}` (a literal in RE2), is refused too, because its author meant a repeat.
"""

from __future__ import annotations

import re

import re2

from mesh_components.limits import RE2_MAX_PROGRAM_SIZE

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_UPPER_ONLY_REPEAT = re.compile(r"(?<!\\)\{,[0-9]+\}")


def regex_problem(pattern: str) -> str | None:
    """What makes Envoy reject `pattern` (or misread it), or None when it is fine."""
    if not pattern:
        return "an empty regex, which Envoy rejects (write '.*' to match anything)"
    if _UPPER_ONLY_REPEAT.search(pattern):
        return "'{,n}', which RE2 reads as literal text, not a repeat (write '{0,n}')"
    try:
        size = re2.compile(pattern, _OPTIONS).programsize
    except re2.error as error:
        return f"RE2 refuses it ({_message(error)})"
    if size > RE2_MAX_PROGRAM_SIZE:
        return f"its RE2 program has {size} instructions, over Envoy's {RE2_MAX_PROGRAM_SIZE}"
    return None


def _message(error: Exception) -> str:
    detail = error.args[0] if error.args else error
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
