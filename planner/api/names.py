"""File names that are not valid UTF-8, carried losslessly as text (docs/api.md, "File names").

Linux allows any bytes in a name but `/` and NUL; JSON, SQLite text and terminals need Unicode.
Python reads such bytes as lone surrogates (U+DC80..U+DCFF, PEP 383 `surrogateescape`). On the
wire, in the journal and in output, each such byte is written as the quote Q = U+201B (SINGLE
HIGH-REVERSED-9 QUOTATION MARK) followed by its two uppercase hex digits, as rclone does, and a Q
of the name itself is doubled: the bytes `caf\\xe9.txt` become `cafQE9.txt`, and `aQb` becomes
`aQQb`. The escaping is reversible; valid UTF-8 names without Q (nearly all) are unchanged.
"""

from __future__ import annotations

import re

QUOTE = "\u201b"
_RAW = re.compile("[\u201b\udc80-\udcff]")
_ESCAPED = re.compile("\u201b(\u201b|[89A-Fa-f][0-9A-Fa-f])")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return QUOTE + QUOTE if char == QUOTE else f"{QUOTE}{ord(char) - 0xDC00:02X}"


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return QUOTE if code == QUOTE else chr(0xDC00 + int(code, 16))


def escape_name(name: str) -> str:
    """The text form of a name as the filesystem gave it (undecodable bytes as surrogates)."""
    if "\u201b" not in name and name.isascii():
        return name  # the common case, checked cheaply (one call per listed file)
    return _RAW.sub(_escape_one, name)


def unescape_name(text: str) -> str:
    """The name `escape_name` made `text` from: QXX (Q = U+201B, XX from 80 to FF) is that
    byte, QQ is Q; any other Q stands for itself."""
    if QUOTE not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)
