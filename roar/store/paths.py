"""How paths are stored: exactly, whatever bytes they hold.

A POSIX path is bytes. Python (and the tracers' summaries, see rust/roar-trace-format) carry
one as ``str`` with each byte that is not valid UTF-8 as a lone surrogate escape U+DC80–U+DCFF
(``os.fsdecode``). The store keeps a path that is valid UTF-8 as TEXT, and any other as a BLOB
of its exact bytes. SQLite never finds a TEXT and a BLOB equal, so the name with the byte 0xff
and the name with the four characters ``\\xff`` are two paths, in primary keys, lookups and
joins alike. Reading turns a BLOB back into the surrogate-escaped ``str``.

Stores written before schema 4 hold such paths as ``\\xNN`` text; those rows stay as they are
(they cannot be told apart from a literal backslash).

Shown to a person, a path goes through ``quote_path`` (git-style quoting, only when needed);
in JSON it is the surrogate-escaped string, so each such byte is the escape ``\\udcNN``.
"""

from __future__ import annotations

import os


def storable_path(path: str) -> str | bytes:
    """TEXT for a valid UTF-8 path, else a BLOB of its exact bytes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate no byte maps to: keep it visible, as text
        return path.encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace")


def stored_path(value: str | bytes) -> str:
    """What ``storable_path`` stored, as the ``str`` the ``os`` functions take."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


_SPECIAL = frozenset('\\"\x7f') | frozenset(chr(c) for c in range(32))


def quote_path(path: str) -> str:
    """A path as text that names exactly one path. As it is, unless it holds a byte that is not
    UTF-8 (a surrogate escape, ``os.fsdecode``), a backslash, a double quote or a control
    character; then double-quoted with those escaped, as git quotes paths: ``"coll\\xff.txt"``
    is the name with the byte 0xff, ``"coll\\\\xff.txt"`` the one with a backslash, x, f, f."""
    if not any(ch in _SPECIAL or "\udc80" <= ch <= "\udcff" for ch in path):
        return path
    out = []
    for ch in path:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in _SPECIAL:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
