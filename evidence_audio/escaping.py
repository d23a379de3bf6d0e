"""Names and tags from the evidence, kept exactly in records and shown so they cannot forge a line.

A file name, a container tag, a case reference: such text comes from whoever made the file or typed
the command. It may hold bytes that are not UTF-8, line breaks, or terminal escape sequences
(``ESC [ 31 m``). Two views of it:

* :func:`lossless`, for records: every string valid UTF-8. A byte that was not UTF-8 (which Python
  holds as a lone surrogate, the file system's ``surrogateescape``) becomes the four characters
  ``\\xNN``, as container tags that are not UTF-8 are read (FFmpeg's ``backslashreplace``).
* :func:`printable`, for the terminal and for the report files people read: moreover every control
  character (C0, DEL, C1: ESC, CR, LF, BEL, CSI ...), line and paragraph separator and bidirectional
  override shown as ``\\uNNNN``, so the text stays on its own line, cannot move the cursor or recolour a
  terminal, and shows what it holds. ``\\uNNNN`` is also a valid escape inside a JSON string.
"""

from __future__ import annotations

import re
import unicodedata

_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_HIDDEN = ("Cc", "Cs", "Zl", "Zp")


def lossless(value):
    """``value`` (a string, or lists and dicts of them, keys included) with every string valid UTF-8.

    A lone surrogate U+DC80..U+DCFF (an undecodable byte NN kept by ``surrogateescape``) becomes
    ``\\xNN``; any other lone surrogate becomes ``\\udNNN``. Other values are returned unchanged.
    """
    if isinstance(value, str):
        if not _SURROGATE.search(value):
            return value
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {lossless(k): lossless(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(lossless(v) for v in value)
    return value


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def printable(text) -> str:
    """``str(text)`` on one line: control characters, line breaks, separators, bidi overrides and
    undecodable bytes escaped (see the module's description); everything else, all scripts and
    emoji, unchanged."""
    text = str(text)
    return "".join(_escape(c) if c in _BIDI or unicodedata.category(c) in _HIDDEN else c for c in text)
