"""What may be printed of text that came from the user: never a secret, never a control byte.

    redact(text, secrets)   known secret values, PEM private keys and CA seeds replaced
    printable(text)         terminal control bytes (ESC, CR, ...) shown as \\xNN escapes, and
                            bidi controls (U+202E, ...) as \\uNNNN

A name in a spec can hold ESC or CR, which would rewrite the user's terminal, or a bidi control
such as U+202E, which reorders what follows it on the line; a program's
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
# Unicode's bidirectional controls (UAX #9): the Arabic letter mark, the implicit marks, the
# embeddings and overrides, the isolates. They make a line read in another order than it holds
# ("Trojan Source", CVE-2021-42574).
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret in it replaced by REDACTED."""
    for secret in sorted(set(secrets), key=len, reverse=True):  # longest first: no partial leak
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    text = _PRIVATE_KEY.sub(f"-----BEGIN \\1PRIVATE KEY----- {REDACTED}", text)
    return _SEED.sub(lambda match: f"{match.group(1) or ''}{REDACTED}", text)


def printable(text: str) -> str:
    """`text` with each control byte but tab and newline, and each bidi control, written as a
    visible escape."""
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return _BIDI.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
