"""Moving bytes: one object into an ``AtomicFile``, many small objects in concurrent batches,
local files up to an object store. Concurrency comes from the store (``S3Store``'s thread pool,
fsspec's async batch calls for the others) and a thread pool of ranged reads for one large
object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from roar.record import hashing
from roar.transfer.files import AtomicFile
from roar.transfer.progress import Progress
from roar.transfer.stores import ObjectInfo

PART = 16 << 20  # ranged reads of a large object, this many bytes each
PARALLEL_PARTS = 8
SMALL = 8 << 20  # objects up to this size are fetched whole, many at a time
BATCH_BYTES = 128 << 20  # at most this much held in memory by one batch of small objects
BATCH_OBJECTS = 256


def download_one(
    fs: Any,
    info: ObjectInfo,
    af: AtomicFile,
    progress: Progress,
    *,
    ranged: bool = True,
    algorithm: str = "blake3",
) -> str:
    """Fill ``af`` with the object's bytes; returns their BLAKE3 digest."""
    if ranged and info.size > 2 * PART:
        return _ranged(fs, info, af, progress, algorithm)
    if 0 <= info.size <= SMALL or (ranged and 0 <= info.size <= 2 * PART):
        data = fs.cat_file(info.path)
        af.write(data)
        progress.advance(len(data))
        return hashing.hash_bytes(data, algorithm)
    with fs.open(info.path, "rb", block_size=PART if ranged else 0) as src:
        while chunk := src.read(PART):
            af.write(chunk)
            progress.advance(len(chunk))
    return af.digest(algorithm)


def _ranged(fs: Any, info: ObjectInfo, af: AtomicFile, progress: Progress, algorithm: str) -> str:
    af.truncate(info.size)

    def part(start: int) -> None:
        end = min(start + PART, info.size)
        data = fs.cat_file(info.path, start=start, end=end)
        if len(data) != end - start:
            raise OSError(f"short read at {start}: {len(data)} of {end - start} bytes")
        af.pwrite(data, start)
        progress.advance(len(data))

    with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
        for done in pool.map(part, range(0, info.size, PART)):
            del done
    return af.digest(algorithm)


def small_batches(infos: Sequence[ObjectInfo]) -> list[list[ObjectInfo]]:
    """Small objects grouped so that one batch holds at most ``BATCH_BYTES``."""
    batches: list[list[ObjectInfo]] = []
    current: list[ObjectInfo] = []
    held = 0
    for info in infos:
        if current and (held + info.size > BATCH_BYTES or len(current) >= BATCH_OBJECTS):
            batches.append(current)
            current, held = [], 0
        current.append(info)
        held += max(info.size, 0)
    if current:
        batches.append(current)
    return batches


def fetch_batch(fs: Any, batch: Sequence[ObjectInfo]) -> dict[str, bytes]:
    """The bytes of every object of ``batch``, fetched concurrently (fsspec's batch ``cat``)."""
    paths = [i.path for i in batch]
    got = fs.cat(paths, on_error="raise")
    if isinstance(got, bytes):  # one path: fsspec answers with the bytes themselves
        return {paths[0]: got}
    return dict(got)


def upload(
    fs: Any,
    pairs: Sequence[tuple[str, str]],
    sizes: Sequence[int],
    progress: Progress,
    sent: dict[str, int] | None = None,
) -> dict[str, tuple[str | None, str | None]]:
    """Copy local files to remote paths: small ones in concurrent batches, large ones one by
    one, each a concurrent multipart upload. Returns what the store answered for the objects
    its upload responses described, remote path → (ETag, version): on S3 every object (no
    listing needed after the upload); ``sent`` gets their byte counts."""
    from roar.transfer.s3 import S3Store

    sent = {} if sent is None else sent
    small = [(lp, rp) for (lp, rp), s in zip(pairs, sizes, strict=True) if s <= SMALL]
    large = [(lp, rp) for (lp, rp), s in zip(pairs, sizes, strict=True) if s > SMALL]
    described: dict[str, tuple[str | None, str | None]] = {}
    if isinstance(fs, S3Store):
        answers = fs.put_objects(small, progress.advance) if small else {}
        for lp, rp in large:
            answers[rp] = fs.put_file(lp, rp, progress.advance)
        for rp, (etag, version, nbytes) in answers.items():
            described[rp] = (etag, version)
            sent[rp] = nbytes
        return described
    for start in range(0, len(small), 1000):
        chunk = small[start : start + 1000]
        fs.put([lp for lp, _ in chunk], [rp for _, rp in chunk])
        progress.advance(sum(_size_of(lp) for lp, _ in chunk))
    for lp, rp in large:
        fs.put_file(lp, rp, callback=_forwarding(progress.advance))
    return described


def _size_of(path: str) -> int:
    import os

    return os.path.getsize(path)


def _forwarding(advance: Callable[[int], None]) -> Any:
    """An fsspec callback that passes byte counts on to ``advance``."""
    from fsspec.callbacks import Callback

    class Forward(Callback):  # type: ignore[misc]
        def relative_update(self, inc: int = 1) -> None:
            advance(inc)

    return Forward()
