"""What may be printed of text that came from the user: never a secret, never a control byte.

    redact(text, secrets)   known secret values, PEM private keys and CA seeds replaced
    printable(text)         terminal control bytes (ESC, CR, ...) shown as \\xNN escapes

A name in a spec can hold ESC or CR, which would rewrite the user's terminal; a program's
traceback can quote the line that holds the CA seed. Every error the CLI prints goes through
both (`console.show_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"
# Shorter values are too likely to occur by chance to be worth hiding (and revealing by it).
MIN_SECRET_LENGTH = 6

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# A CA seed is 32 bytes or more, written in hex: near the word `seed`, or 64 hex digits and
# more anywhere (a program can make Python quote one: `NameError: name '<seed>' ...`). A
# fingerprint of that length in an error is rare, and hiding it costs little.
_SEED = re.compile(r"(?i)(seed[^\n]{0,40}?)[0-9a-f]{32,}|\b[0-9a-f]{64,}\b")
# C0 controls but tab and newline, DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret in it replaced by REDACTED."""
    for secret in sorted(set(secrets), key=len, reverse=True):  # longest first: no partial leak
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    text = _PRIVATE_KEY.sub(f"-----BEGIN \\1PRIVATE KEY----- {REDACTED}", text)
    return _SEED.sub(lambda match: f"{match.group(1) or ''}{REDACTED}", text)


def printable(text: str) -> str:
    """`text` with each control byte but tab and newline written as a visible escape."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
