"""Show user text on a terminal without letting it act: control characters become escapes."""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f"  # C0 controls and DEL: ESC starts every terminal sequence, BEL ends OSC
    "\x80-\x9f"  # C1 controls: U+009B is CSI and U+009D is OSC in 8-bit terminals
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides
    "\ud800-\udfff"  # lone surrogates: bytes that were not UTF-8, cannot be encoded
    "]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control, bidi and surrogate character written as `\\x1b` / `\\u202e`."""
    return _UNSAFE.sub(_escape, text)
