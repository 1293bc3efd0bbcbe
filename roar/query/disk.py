"""Does a file on disk still hold the bytes roar recorded? Edits made outside roar, found cheaply.

Checked through the hash cache, read only: a file whose (device, inode, size, mtime_ns) matches
a cache entry has that entry's digest, so an unchanged file is never read. A file the cache does
not know (copied, checked out, edited by hand) is hashed here when it is small enough (the
digest is remembered in memory, never written to the store: readers leave the store to
``roar run`` and the kernel); a bigger one is reported as modified without reading it, since its
stat identity moved since roar last hashed it.

``roar status``, ``roar dag``, ``roar show``, the DAG viewer and the language server all ask
here, so they agree on what ``modified on disk`` means.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence

from roar.record import hashing

CURRENT = "current"
MODIFIED = "modified on disk"
MISSING = "missing"
REMOTE = "remote"  # an object in an object store (`roar get` / `roar put`): not on this disk
REMOTE_PREFIXES = ("s3://", "gs://", "http://", "https://")

SMALL_FILE = 2 << 20  # hashing 2 MiB costs ~2 ms: cheap enough to do inside a hover
CLI_HASH_LIMIT = 256 << 20  # a command may read more before saying "modified" unread

# (algorithm, [(dev, inode)]) → {(dev, inode): (size, mtime_ns, digest)}: the hash cache's entries
CacheLookup = Callable[
    [str, Sequence[tuple[int, int]]], dict[tuple[int, int], tuple[int, int, str]]
]
# (path, digest, size, algorithm, composite) — what was recorded, to compare the disk against
Recorded = tuple[str, str, int, str, bool]


class DiskDigests:
    """Digests of files on disk, from the hash cache or (up to ``hash_limit`` bytes) hashed here."""

    def __init__(self, hash_limit: int = SMALL_FILE) -> None:
        self.hash_limit = hash_limit
        self._memo: dict[tuple[int, int, int, int, str], str] = {}

    def state(
        self, lookup: CacheLookup, path: str, digest: str, size: int, algorithm: str,
        composite: bool = False,
    ) -> str:  # fmt: skip
        """``current``, ``modified on disk`` or ``missing`` for one recorded (digest, size)."""
        return self.states(lookup, [(path, digest, size, algorithm, composite)])[(path, digest)]

    def states(self, lookup: CacheLookup, files: Iterable[Recorded]) -> dict[tuple[str, str], str]:
        """(path, digest) → state for many recorded files, the cache asked once per algorithm."""
        result: dict[tuple[str, str], str] = {}
        pending: list[tuple[Recorded, os.stat_result]] = []
        for rec in files:
            path, digest, size, _algorithm, composite = rec
            if (path, digest) in result:
                continue
            if path.startswith(REMOTE_PREFIXES):
                result[(path, digest)] = REMOTE
                continue
            try:
                st = os.stat(path)
            except (OSError, ValueError):
                result[(path, digest)] = MISSING
                continue
            if composite:  # a directory's digest needs every member hashed: existing is enough
                result[(path, digest)] = CURRENT if stat.S_ISDIR(st.st_mode) else MODIFIED
            elif not stat.S_ISREG(st.st_mode) or st.st_size != size:
                result[(path, digest)] = MODIFIED
            else:
                result[(path, digest)] = MODIFIED  # until a digest says otherwise
                pending.append((rec, st))
        by_algorithm: dict[str, list[tuple[Recorded, os.stat_result]]] = {}
        for rec, st in pending:
            by_algorithm.setdefault(rec[3], []).append((rec, st))
        for algorithm, group in by_algorithm.items():
            unknown = [
                (rec, st) for rec, st in group if self._memo_key(st, algorithm) not in self._memo
            ]
            cached = (
                lookup(algorithm, [(st.st_dev, st.st_ino) for _, st in unknown]) if unknown else {}
            )
            for _rec, st in unknown:
                hit = cached.get((st.st_dev, st.st_ino))
                if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
                    self._remember(st, algorithm, hit[2])
            for rec, st in group:
                path, digest = rec[0], rec[1]
                known = self._memo.get(self._memo_key(st, algorithm))
                if known is None and st.st_size <= self.hash_limit:
                    known = self._hash(path, st, algorithm)
                result[(path, digest)] = CURRENT if known == digest else MODIFIED
        return result

    @staticmethod
    def _memo_key(st: os.stat_result, algorithm: str) -> tuple[int, int, int, int, str]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, algorithm)

    def _remember(self, st: os.stat_result, algorithm: str, digest: str) -> None:
        if len(self._memo) > 10_000:
            self._memo.clear()
        self._memo[self._memo_key(st, algorithm)] = digest

    def _hash(self, path: str, st: os.stat_result, algorithm: str) -> str | None:
        try:
            digest = hashing.hash_file(path, algorithm)
        except (OSError, ValueError):
            return None
        self._remember(st, algorithm, digest)
        return digest

    def digest_now(self, lookup: CacheLookup, path: str, algorithm: str) -> str:
        """The digest of the file at ``path`` now (from the cache, else hashed whatever its
        size), for finding an artifact by a file's content. Raises OSError."""
        st = os.stat(path)
        key = self._memo_key(st, algorithm)
        if key not in self._memo:
            hit = lookup(algorithm, [(st.st_dev, st.st_ino)]).get((st.st_dev, st.st_ino))
            if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
                self._remember(st, algorithm, hit[2])
        known = self._memo.get(key)
        if known is not None:
            return known
        try:
            digest = hashing.hash_file(path, algorithm)
        except ValueError as exc:
            raise OSError(str(exc)) from None
        self._remember(st, algorithm, digest)
        return digest


class DiskCheck:
    """A ``DiskDigests`` bound to one store's cache: what the DAG builder and the commands ask.

    ``default_algorithm`` is used for a record that does not say which algorithm hashed it.
    """

    def __init__(
        self,
        lookup: CacheLookup,
        default_algorithm: str = "blake3",
        hash_limit: int = CLI_HASH_LIMIT,
    ) -> None:
        self.lookup = lookup
        self.default_algorithm = default_algorithm
        self.digests = DiskDigests(hash_limit)

    def states(
        self, files: Iterable[tuple[str, str, int, str, bool]]
    ) -> dict[tuple[str, str], str]:
        return self.digests.states(
            self.lookup,
            ((p, d, s, a or self.default_algorithm, c) for p, d, s, a, c in files),
        )

    def state(
        self, path: str, digest: str, size: int, algorithm: str = "", composite: bool = False
    ) -> str:
        return self.states([(path, digest, size, algorithm, composite)])[(path, digest)]

    def digest_now(self, path: str, algorithm: str = "") -> str:
        return self.digests.digest_now(self.lookup, path, algorithm or self.default_algorithm)
