"""`roar get`: download an object or every object under a prefix, verified and recorded.

The download is a ``get`` job with outputs only: the URL and the local path, both the artifact
of the bytes (a prefix: one composite artifact of its objects), and in ``remote_objects`` the
ETag and version the store gave. An object whose local copy already holds the bytes roar
recorded for that URL and ETag (or the ``--hash`` asked for) is not downloaded again.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from roar.errors import RoarError
from roar.record import hashing
from roar.records import field, record
from roar.store.spool import Spooled
from roar.transfer import fetch, recording, s3, staging, stores, urls
from roar.transfer.files import AtomicFile, sync_directories, sync_filesystem
from roar.transfer.progress import Progress, Silent
from roar.transfer.s3 import S3Store
from roar.workspace import Workspace, require_workspace


@record(frozen=True)
class GetRequest:
    source: str
    dest: str | None = None
    expected_hash: str | None = None
    force: bool = False
    dry_run: bool = False
    message: str | None = None
    tag: bool = False
    argv: tuple[str, ...] = ()


@record
class PlannedObject:
    info: stores.ObjectInfo
    url: str  # as recorded
    relpath: str  # inside the prefix ("" for a single object)
    local: str
    present_digest: str | None = None  # what the local path holds now, if it is a file
    skip: bool = False  # already holds the right bytes
    digest: str | None = None  # after the download


@record
class GetOutcome:
    url: str
    dest: str
    composite: bool
    objects: list[PlannedObject]
    dry_run: bool = False
    digest: str | None = None
    size: int = 0
    downloaded: int = 0
    downloaded_bytes: int = 0
    seconds: float = 0.0
    job_uid: str | None = None
    step_number: int | None = None
    tag: str | None = None
    warnings: list[str] = field(default_factory=list)
    spooled: Spooled | None = None  # the store refused the record: where it is kept instead

    @property
    def skipped(self) -> int:
        return sum(1 for o in self.objects if o.skip)


def get(request: GetRequest, progress: Progress | None = None) -> GetOutcome:
    progress = progress or Silent()
    ws = require_workspace()
    loc = urls.parse(request.source)
    if not request.dry_run:
        recording.check_writable(ws, "downloaded")
    fs = stores.filesystem(loc)
    started = time.time()
    objects, prefix = _list(fs, loc, request)
    algorithm = recording.algorithm_of(ws)
    _check_present(ws, objects, request, algorithm)
    outcome = GetOutcome(
        url=_prefix_url(loc) if prefix else loc.url,
        dest=_dest_root(objects, prefix, request, loc),
        composite=prefix,
        objects=objects,
        dry_run=request.dry_run,
    )
    todo = [o for o in objects if not o.skip]
    if request.dry_run:
        return outcome
    if todo:
        progress.start(sum(max(o.info.size, 0) for o in todo), len(todo))
        try:
            _download(ws, fs, loc, todo, request, prefix, outcome.dest, progress, algorithm)
        finally:
            progress.finish()
    for o in objects:
        if o.skip:
            o.digest = o.present_digest
    outcome.downloaded = len(todo)
    outcome.downloaded_bytes = sum(max(o.info.size, 0) for o in todo)
    outcome.seconds = time.time() - started
    _summarize(outcome, algorithm)
    if not todo:
        return outcome  # nothing moved: nothing to record
    recorded = recording.record_get(ws, request, outcome, started, algorithm)
    if isinstance(recorded, Spooled):
        outcome.spooled = recorded
        return outcome
    outcome.job_uid, outcome.step_number = recorded.uid, recorded.step_number
    if request.tag and outcome.digest:
        outcome.tag = recording.tag_head(ws.root, "get", outcome.digest)
    return outcome


# what to download -----------------------------------------------------------------------------


def _list(fs: Any, loc: urls.Location, request: GetRequest) -> tuple[list[PlannedObject], bool]:
    try:
        if not loc.is_prefix:
            details = fs.info(loc.path)
            if details.get("type") != "directory":
                info = stores.info_of(loc.path, details)
                return [PlannedObject(info, loc.url, "", _single_dest(loc, request))], False
        found = fs.find(loc.path.rstrip("/"), detail=True)
    except Exception as exc:
        raise stores.describe_failure(exc, loc.url) from None
    base = loc.path.rstrip("/")
    root = _prefix_dest(loc, request)
    objects = []
    for path, details in sorted(found.items()):
        if details.get("type") == "directory":
            continue
        rel = path[len(base) :].lstrip("/") if path.startswith(base) else urls.basename(path)
        info = stores.info_of(path, details)
        objects.append(
            PlannedObject(info, urls.join(_prefix_url(loc), rel), rel, os.path.join(root, rel))
        )
    if not objects:
        raise RoarError(
            f"Nothing to download: no objects under {loc.url}.",
            hint="Check the prefix (`aws s3 ls` lists what is there).",
        )
    return objects, True


def _prefix_url(loc: urls.Location) -> str:
    return loc.url.rstrip("/")


def _single_dest(loc: urls.Location, request: GetRequest) -> str:
    name = urls.basename(loc.path) or "download"
    if request.dest is None:
        return os.path.abspath(name)
    dest = os.path.abspath(os.path.expanduser(request.dest))
    if request.dest.endswith("/") or os.path.isdir(dest):
        return os.path.join(dest, name)
    return dest


def _prefix_dest(loc: urls.Location, request: GetRequest) -> str:
    if request.dest is None:
        return os.path.abspath(urls.basename(loc.path) or "download")
    return os.path.abspath(os.path.expanduser(request.dest))


def _dest_root(
    objects: list[PlannedObject], prefix: bool, request: GetRequest, loc: urls.Location
) -> str:
    return _prefix_dest(loc, request) if prefix else objects[0].local


def _check_present(
    ws: Workspace, objects: list[PlannedObject], request: GetRequest, algorithm: str
) -> None:
    """Mark what is already in place; refuse to overwrite anything else without --force."""
    from roar.store import remote
    from roar.store.connection import opened

    present = [o.local for o in objects if os.path.isfile(o.local)]
    for o in objects:
        if os.path.lexists(o.local) and not os.path.isfile(o.local):
            raise RoarError(f"{o.local} exists and is not a file.", hint="Choose another DEST.")
    if not present:
        return
    with opened(ws.db_path) as conn:
        digests = hashing.hash_paths(conn, present, algorithm)
        recorded = remote.known_many(conn, [o.url for o in objects])
    single_expected = request.expected_hash if len(objects) == 1 else None
    blocked = []
    for o in objects:
        found = digests.found.get(o.local)
        if found is None:
            continue
        o.present_digest = found[0]
        wanted = recorded.get((o.url, o.info.etag), set())
        if single_expected and o.present_digest.startswith(single_expected.lower()):
            o.skip = True
        elif o.present_digest in wanted:
            o.skip = True
        elif not request.force:
            blocked.append(o.local)
    if blocked:
        more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
        raise RoarError(
            f"{blocked[0]}{more} exists and does not hold what roar recorded for "
            f"{objects[0].url if len(objects) == 1 else 'those objects'}.",
            hint="Pass --force to overwrite, or choose another DEST.",
        )


# downloading ----------------------------------------------------------------------------------


def _download(
    ws: Workspace,
    fs: Any,
    loc: urls.Location,
    todo: list[PlannedObject],
    request: GetRequest,
    prefix: bool,
    dest: str,
    progress: Progress,
    algorithm: str,
) -> None:
    ranged = loc.scheme not in ("http", "https")  # not every web server answers ranges
    if not prefix:
        _one(fs, todo[0], request.expected_hash, progress, ranged, algorithm)
        return
    if request.expected_hash:
        _staged(ws, fs, todo, request.expected_hash, dest, progress, ranged, algorithm)
        return
    _many(fs, todo, progress, ranged, algorithm)


def _one(
    fs: Any,
    o: PlannedObject,
    expected: str | None,
    progress: Progress,
    ranged: bool,
    algorithm: str,
) -> None:
    with AtomicFile(o.local) as af:
        try:
            o.digest = fetch.download_one(
                fs, o.info, af, progress, ranged=ranged, algorithm=algorithm
            )
        except Exception as exc:
            raise stores.describe_failure(exc, o.url) from None
        if expected and not o.digest.startswith(expected.lower()):
            raise hash_mismatch(o.url, expected, o.digest)
        _check_unchanged(fs, o)
        af.commit()


def hash_mismatch(url: str, expected: str, got: str) -> RoarError:
    return RoarError(
        f"Hash mismatch for {url}: expected {expected}, got {got}. Nothing was written.",
        hint="Check the --hash value (a BLAKE3 digest or prefix) or the source.",
    )


def _check_unchanged(fs: Any, o: PlannedObject) -> None:
    """A large object read in parts must be one version throughout: its ETag still the same."""
    if o.info.size <= 2 * fetch.PART or o.info.etag is None:
        return
    now = stores.info_of(o.info.path, fs.info(o.info.path))
    if now.etag != o.info.etag:
        raise RoarError(
            f"{o.url} changed while it was downloaded. Nothing was written.",
            hint="Run roar get again.",
        )


def _many(
    fs: Any, todo: list[PlannedObject], progress: Progress, ranged: bool, algorithm: str
) -> None:
    """Small objects in concurrent batches, the next batch fetched while the last is written;
    each batch's files made durable together (one syncfs, one fsync per directory). On S3,
    each of the store's threads fetches, writes and hashes its objects itself (as awscli's
    do), and the files are named in groups once their bytes are on disk."""
    small = [o for o in todo if 0 <= o.info.size <= fetch.SMALL]
    large = [o for o in todo if not 0 <= o.info.size <= fetch.SMALL]
    if isinstance(fs, S3Store):
        _many_threaded(fs, small, progress, algorithm)
    else:
        _many_batched(fs, small, progress, algorithm)
    for o in large:
        _one(fs, o, None, progress, ranged, algorithm)


def _many_threaded(
    fs: S3Store, small: list[PlannedObject], progress: Progress, algorithm: str
) -> None:
    def one(o: PlannedObject) -> AtomicFile:
        data = fs.cat_file(o.info.path)
        af = AtomicFile(o.local)
        try:
            af.write(data)
        except BaseException:
            af.discard()
            raise
        o.digest = hashing.hash_bytes(data, algorithm)
        progress.advance(len(data))
        return af

    written: list[AtomicFile] = []
    with ThreadPoolExecutor(s3.CONCURRENCY) as pool:
        futures = {pool.submit(one, o): o for o in small}
        try:
            for future in as_completed(futures):
                try:
                    written.append(future.result())
                except Exception as exc:
                    raise stores.describe_failure(exc, futures[future].url) from None
                if len(written) >= fetch.BATCH_OBJECTS:
                    _commit(written)
                    written = []
            _commit(written)
        finally:
            for future in futures:
                future.cancel()
            for af in written:
                af.discard()
            for future in futures:  # files of requests still running when one failed
                if not future.cancelled() and future.exception() is None:
                    future.result().discard()


def _commit(files: list[AtomicFile]) -> None:
    """Name ``files``, their bytes made durable first (one syncfs, one fsync per directory)."""
    synced = bool(files) and sync_filesystem(files[0].directory)
    for af in files:
        af.commit(synced=synced)
    if synced:
        sync_directories({af.directory for af in files})


def _many_batched(fs: Any, small: list[PlannedObject], progress: Progress, algorithm: str) -> None:
    by_path = {o.info.path: o for o in small}
    batches = fetch.small_batches([o.info for o in small])
    with ThreadPoolExecutor(1) as prefetch:
        pending = prefetch.submit(fetch.fetch_batch, fs, batches[0]) if batches else None
        for index, batch in enumerate(batches):
            assert pending is not None
            try:
                got = pending.result()
            except Exception as exc:
                raise stores.describe_failure(exc, by_path[batch[0].path].url) from None
            if index + 1 < len(batches):
                pending = prefetch.submit(fetch.fetch_batch, fs, batches[index + 1])
            _write_batch([(by_path[path], data) for path, data in got.items()], algorithm)
            progress.advance(sum(len(d) for d in got.values()))


def _write_batch(items: list[tuple[PlannedObject, bytes]], algorithm: str) -> None:
    files: list[AtomicFile] = []
    try:
        for o, data in items:
            af = AtomicFile(o.local)
            files.append(af)
            af.write(data)
            o.digest = hashing.hash_bytes(data, algorithm)
        _commit(files)
    finally:
        for af in files:
            af.discard()


def _staged(
    ws: Workspace,
    fs: Any,
    todo: list[PlannedObject],
    expected: str,
    dest: str,
    progress: Progress,
    ranged: bool,
    algorithm: str,
) -> None:
    """A prefix with --hash: everything lands in a hidden folder beside DEST first and moves
    into place only when the composite digest matches. The folder is known to the store
    (``staging``): if roar is killed, the next roar command removes it."""
    parent = os.path.dirname(dest.rstrip("/")) or "."
    os.makedirs(parent, exist_ok=True)
    finals = {o.info.path: o.local for o in todo}
    with staging.staging_folder(ws.db_path, parent) as folder:
        _staged_into(folder, fs, todo, expected, finals, progress, ranged, algorithm)


def _staged_into(
    folder: str,
    fs: Any,
    todo: list[PlannedObject],
    expected: str,
    finals: dict[str, str],
    progress: Progress,
    ranged: bool,
    algorithm: str,
) -> None:
    try:
        for o in todo:
            o.local = os.path.join(folder, o.relpath)
        _many(fs, todo, progress, ranged, algorithm)
        members = sorted((o.relpath, o.digest or "") for o in todo)
        digest = hashing.composite_digest(members, algorithm)
        if not digest.startswith(expected.lower()):
            raise hash_mismatch(todo[0].url.rsplit("/", 1)[0], expected, digest)
        for o in todo:
            final = finals[o.info.path]
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(o.local, final)
            o.local = final
    finally:
        for o in todo:
            o.local = finals[o.info.path]


def _summarize(outcome: GetOutcome, algorithm: str) -> None:
    objs = outcome.objects
    outcome.size = sum(max(o.info.size, 0) for o in objs)
    if not outcome.composite:
        outcome.digest = objs[0].digest
        return
    members = sorted((o.relpath, o.digest or "") for o in objs)
    outcome.digest = hashing.composite_digest(members, algorithm)
