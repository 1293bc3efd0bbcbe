"""What a lookup's key may be, and what its matches mean: shared by the lookups' two paths
(glaas.service.lookup's statements on SQLite, pg_documents' on PostgreSQL)."""

from __future__ import annotations

import re

from glaas.service import Ambiguous, BadPrefix, NotFound

MIN_PREFIX = 8  # shorter prefixes would match too much to be useful, and cost a scan
CANDIDATES = 20  # how many a 409 lists
FULL = 64  # hex digits of a whole hash: a "prefix" this long is the hash itself
HEX = re.compile(r"^[0-9a-f]+$")


def check_prefix(prefix: str) -> str:
    p = prefix.lower()
    if len(p) < MIN_PREFIX or len(p) > FULL or not HEX.match(p):
        raise BadPrefix(f"{prefix!r} is not a hash or a prefix of {MIN_PREFIX} to 64 hex digits")
    return p


def unique(kind: str, prefix: str, matches: list[str]) -> str:
    """The one record ``matches`` (at most CANDIDATES of them) name; else NotFound, or
    Ambiguous with the candidates."""
    if not matches:
        raise NotFound(f"no {kind} in this registry matches {prefix!r}")
    if len(set(matches)) > 1:
        found = sorted(set(matches))
        many = f"at least {len(found)}" if len(matches) >= CANDIDATES else str(len(found))
        raise Ambiguous(f"{prefix!r} matches {many} {kind}s: give more digits", found)
    return matches[0]
