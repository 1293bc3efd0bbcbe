"""`roar put`: upload files, a directory, a step's outputs or the session's outputs, and record
the upload as a ``put`` job — inputs: the local files; outputs: the objects, each by its URL
with the BLAKE3 of its bytes and, in ``remote_objects``, the ETag the store gave (a multipart
upload's ETag is no content digest: both are kept). Registering the lineage is the command's
next step (``roar.registry.register``)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from roar.errors import RoarError
from roar.record import hashing
from roar.records import field, record
from roar.store import remote, writer
from roar.store.spool import Spooled
from roar.transfer import fetch, recording, stores, urls
from roar.transfer.progress import Progress, Silent
from roar.workspace import Workspace, require_workspace


@record(frozen=True)
class PutRequest:
    dest: str
    source: str | None = None  # a file, a directory, @N / @BN; None: the session's outputs
    message: str | None = None
    dry_run: bool = False
    argv: tuple[str, ...] = ()


@record
class Upload:
    local: str
    name: str  # relative name under DEST
    url: str  # as recorded
    rpath: str  # the filesystem's path
    size: int = 0
    digest: str = ""
    etag: str | None = None
    version_id: str | None = None


@record
class PutOutcome:
    dest: str
    uploads: list[Upload]
    dry_run: bool = False
    seconds: float = 0.0
    job_uid: str | None = None
    step_number: int | None = None
    warnings: list[str] = field(default_factory=list)
    spooled: Spooled | None = None  # the store refused the record: where it is kept instead

    @property
    def total_bytes(self) -> int:
        return sum(u.size for u in self.uploads)


def put(request: PutRequest, progress: Progress | None = None) -> PutOutcome:
    progress = progress or Silent()
    ws = require_workspace()
    loc = urls.parse(request.dest)
    started = time.time()
    files, warnings = _sources(ws, request.source)
    uploads = _plan(loc, files, request)
    algorithm = recording.algorithm_of(ws)
    outcome = PutOutcome(loc.url, uploads, request.dry_run, warnings=warnings)
    if request.dry_run:
        _hash(ws, uploads, algorithm)
        return outcome
    recording.check_writable(ws, "uploaded")
    sizes = _sizes(uploads)
    # The files are hashed (native, off the GIL) while the store's client is set up and the
    # bytes go up: each file is read from the page cache twice, at once, not one pass after
    # the other.
    with ThreadPoolExecutor(1) as background:
        hashing_done = background.submit(_hash, ws, uploads, algorithm)
        progress.start(sum(sizes), len(uploads))
        try:
            fs = stores.filesystem(loc)
            pairs = [(u.local, u.rpath) for u in uploads]
            sent: dict[str, int] = {}
            described = fetch.upload(fs, pairs, sizes, progress, sent)
            hashing_done.result()
            _describe_uploaded(fs, loc, [u for u in uploads if u.rpath not in described])
            for u in uploads:
                if u.rpath in described:
                    if sent[u.rpath] != u.size:
                        raise RoarError(
                            f"{u.local} changed while it was uploaded ({sent[u.rpath]} bytes "
                            f"sent, {u.size} hashed).",
                            hint="Run roar put again once nothing writes to it.",
                        )
                    u.etag, u.version_id = described[u.rpath]
        except RoarError:
            raise
        except Exception as exc:
            raise stores.describe_failure(exc, loc.url) from None
        finally:
            progress.finish()
    outcome.seconds = time.time() - started
    inputs = [writer.HashedFile(u.local, "input", u.digest, u.size) for u in uploads]
    rows = [remote.RemoteRow(u.url, u.etag, u.version_id, u.size, u.digest) for u in uploads]
    metadata: dict[str, Any] = {
        "transfer": {
            "direction": "put",
            "destination": loc.url,
            "objects": len(uploads),
            "bytes": outcome.total_bytes,
            "seconds": round(outcome.seconds, 3),
        }
    }
    if request.message:
        metadata["message"] = request.message
    argv = request.argv or (
        "roar",
        "put",
        *([request.source] if request.source else []),
        request.dest,
    )
    recorded = recording.record_put(ws, argv, started, algorithm, inputs, rows, metadata)
    if isinstance(recorded, Spooled):
        outcome.spooled = recorded
        return outcome
    outcome.job_uid, outcome.step_number = recorded.uid, recorded.step_number
    return outcome


# what to upload -------------------------------------------------------------------------------


def _sources(ws: Workspace, source: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(absolute local file, name under DEST) for every file to upload; warnings."""
    if source is None or source.startswith("@"):
        return _recorded_outputs(ws, source)
    path = os.path.abspath(os.path.expanduser(source))
    if os.path.isfile(path):
        return [(path, os.path.basename(path))], []
    if os.path.isdir(path):
        found = []
        for top, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in (".git", ".roar"))
            for name in sorted(names):
                full = os.path.join(top, name)
                if os.path.isfile(full):
                    found.append((full, os.path.relpath(full, path)))
        if not found:
            raise RoarError(f"Nothing to upload: {source} holds no files.")
        return found, []
    raise RoarError(f"No such file or directory: {source}", hint="Check the path.")


def _recorded_outputs(ws: Workspace, ref: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """A step's outputs (``@N``) or every output of the active session's latest runs, named by
    their path under the project root; outputs no longer on disk are left out, with a warning."""
    from roar.query import refs
    from roar.query.lineage import latest_per_step
    from roar.store.queries import reader

    with reader(ws.db_path) as r:
        if ref is not None:
            jobs = [refs.resolve_step(r, ref)]
        else:
            session = refs.require_active_session(r)
            jobs = [j for j in latest_per_step(r.session_jobs(session.id)).values()]
            jobs = [j for j in jobs if j.kind != "put"]
    root = str(ws.root)
    found: dict[str, str] = {}
    warnings = []
    for job in jobs:
        for f in job.outputs:
            if f.path.startswith(refs.REMOTE_SCHEMES):
                continue
            if os.path.isdir(f.path):
                for top, _dirs, names in os.walk(f.path):
                    for name in names:
                        full = os.path.join(top, name)
                        found.setdefault(full, os.path.relpath(full, root))
            elif os.path.isfile(f.path):
                found.setdefault(f.path, os.path.relpath(f.path, root))
            else:
                warnings.append(f"{f.path} (an output of {job.ref}) is gone: not uploaded")
    if not found:
        what = f"step {ref}" if ref else "the session"
        raise RoarError(f"Nothing to upload: {what} has no outputs on disk.")
    return sorted(found.items()), warnings


def _plan(loc: urls.Location, files: list[tuple[str, str]], request: PutRequest) -> list[Upload]:
    single_file = (
        len(files) == 1
        and request.source is not None
        and not request.source.startswith("@")
        and os.path.isfile(os.path.abspath(os.path.expanduser(request.source)))
    )
    exact = single_file and not loc.is_prefix
    uploads = []
    for local, name in files:
        name = name.replace(os.sep, "/")
        if exact:
            rpath, url = loc.path, loc.url
        else:
            rpath, url = urls.join(loc.path, name), urls.join(loc.url, name)
        uploads.append(Upload(local, name, url, rpath))
    return uploads


def _sizes(uploads: list[Upload]) -> list[int]:
    """Each file's size now (what the upload splits on); a file that is gone or not a regular
    file stops the put before anything is sent."""
    import stat

    sizes = []
    for u in uploads:
        try:
            st = os.stat(u.local)
        except OSError as exc:
            raise RoarError(
                f"Cannot upload {u.local}: {exc.strerror}.", hint="Check the file and retry."
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise RoarError(
                f"Cannot upload {u.local}: not a regular file.", hint="Check the file and retry."
            )
        sizes.append(st.st_size)
    return sizes


def _hash(ws: Workspace, uploads: list[Upload], algorithm: str) -> None:
    from roar.store.connection import opened

    with opened(ws.db_path) as conn:
        digests = hashing.hash_paths(conn, [u.local for u in uploads], algorithm)
        writer.update_cache(conn, algorithm, digests.fresh)
    if digests.failed:
        path, why = next(iter(digests.failed.items()))
        raise RoarError(f"Cannot upload {path}: {why}.", hint="Check the file and retry.")
    for u in uploads:
        u.digest, u.size = digests.found[u.local]


def _describe_uploaded(fs: Any, loc: urls.Location, uploads: list[Upload]) -> None:
    """The ETag and version of every uploaded object, as the store now reports them: one
    listing for many objects, one ``info`` for a few (on S3, none: the upload responses
    described every object)."""
    if not uploads:
        return
    fs.invalidate_cache()
    if len(uploads) > 8 and loc.scheme != "file":
        listed = fs.find(loc.path.rstrip("/"), detail=True)
    else:
        listed = {u.rpath: fs.info(u.rpath) for u in uploads}
    norm = {k.rstrip("/"): v for k, v in listed.items()}
    for u in uploads:
        details = norm.get(u.rpath) or fs.info(u.rpath)
        info = stores.info_of(u.rpath, details)
        if info.size != u.size:
            raise RoarError(
                f"{u.url} holds {info.size} bytes after the upload, not {u.size}.",
                hint="Another writer may have replaced it: run roar put again.",
            )
        u.etag, u.version_id = info.etag, info.version_id
