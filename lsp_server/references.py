"""Finding the strings in a document that may name a tracked file or an artifact's hash.

Pure text scanning, no store: the caller resolves each candidate. Columns are Python string
indices (code points); the server converts them to the client's position encoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MIN_HASH_PREFIX = 8
MAX_PER_DOCUMENT = 5000  # a generated file full of strings must not stall diagnostics

# Quoted text on one line: Python and JSON strings, YAML/TOML values, Markdown code spans.
_QUOTED = re.compile(r'"([^"\n]{1,500})"|\'([^\'\n]{1,500})\'|`([^`\n]{1,500})`')
# A bare word that looks like a path: shell arguments, YAML values, Markdown links.
_BARE = re.compile(r"(?<![\w.~/+-])(?:\.{1,2}/|~/|/)?[\w+-][\w.+/-]*")
_HASH = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8,128}(?![0-9A-Za-z])")
# Languages whose paths only ever appear inside string literals (bare words are identifiers).
_QUOTED_ONLY = {"python", "javascript", "typescript", "r", "julia"}


@dataclass(frozen=True)
class Reference:
    """A candidate on one line: ``kind`` is ``path`` or ``hash``; ``end`` is exclusive."""

    text: str
    line: int
    start: int
    end: int
    kind: str

    def covers(self, line: int, column: int) -> bool:
        return line == self.line and self.start <= column <= self.end


def looks_like_path(text: str) -> bool:
    """Worth a lookup: has a directory part or an extension, and is not a URL or an option."""
    if not text or len(text) > 500 or text.startswith(("-", "//")) or "://" in text:
        return False
    tail = text.rstrip("/").rsplit("/", 1)[-1]
    return "/" in text.strip("/") or ("." in tail.strip(".") and not tail.endswith("."))


def _path_candidates(line: str, number: int, language: str) -> Iterator[Reference]:
    seen: set[tuple[int, int]] = set()
    for m in _QUOTED.finditer(line):
        group = next(g for g in (1, 2, 3) if m.group(g) is not None)
        text = m.group(group).strip()
        if looks_like_path(text):
            start = m.start(group) + m.group(group).index(text)
            seen.add((start, start + len(text)))
            yield Reference(text, number, start, start + len(text), "path")
    if language in _QUOTED_ONLY:
        return
    for m in _BARE.finditer(line):
        text = m.group(0).rstrip(".,;:")
        span = (m.start(), m.start() + len(text))
        if span not in seen and looks_like_path(text):
            yield Reference(text, number, span[0], span[1], "path")


def scan(text: str, language: str = "") -> list[Reference]:
    """Every path-like candidate in ``text`` (hashes are looked for at a hover position only)."""
    found: list[Reference] = []
    for number, line in enumerate(text.splitlines()):
        for ref in _path_candidates(line, number, language.lower()):
            found.append(ref)
            if len(found) >= MAX_PER_DOCUMENT:
                return found
    return found


def at(line_text: str, line: int, column: int, language: str = "") -> list[Reference]:
    """The candidates under the cursor, paths first, then a hash (prefix) the cursor is on."""
    refs = [
        r for r in _path_candidates(line_text, line, language.lower()) if r.covers(line, column)
    ]
    for m in _HASH.finditer(line_text):
        if m.start() <= column <= m.end():
            refs.append(Reference(m.group(0).lower(), line, m.start(), m.end(), "hash"))
    return refs
