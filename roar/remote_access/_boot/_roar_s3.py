"""roar's botocore handlers: the S3 objects a traced Python program reads and writes.

Loaded by this directory's ``sitecustomize`` when the program itself imports botocore (boto3
and s3fs/aiobotocore both go through botocore's client and its event system), or by a Ray
worker's setup (``roar.ray.worker``). The handlers are added to ``botocore.handlers
.BUILTIN_HANDLERS``, so every session made afterwards registers them. They note, per S3 call
that reads or writes an object, one JSON line: ``s3://bucket/key``, the operation, ETag,
VersionId, size, and the digest of the bytes when they pass through the process (a GetObject
body read to its end, possibly as consecutive ranges; a PutObject body; the parts of a multipart
upload in order) or the local file that holds them (``upload_file``'s source file,
``download_file``'s destination, an open file given as the body: ``roar run`` hashes it). A
server-side copy (CopyObject; UploadPartCopy parts of a multipart upload, boto3's managed
``copy``) notes a read of its source — the version S3 said it copied, the ETag only when the
request required it (CopySourceIfMatch) — and a write of the copy that names its source
(``copy_of``): ``roar run`` gives the copy the source's digest when it knows that version's.

Nothing here may change what the program does: every handler returns None (botocore reads a
handler's answer only for a few events, none of these), catches its own exceptions, never reads
a stream the program reads (a response body is hashed as the program reads it; a request body
only when it is bytes), and never changes a request or a response.

Standalone on purpose (the standard library only; roar's native hashing or the blake3 package
when importable): the traced interpreter may not be the one roar is installed in.
"""

import json
import os
import sys
import threading
import time
import weakref

OUT_ENV = "ROAR_S3_OUT"  # a private directory roar run made: one JSON-lines file per process
ALGORITHM_ENV = "ROAR_S3_ALGORITHM"  # the job's hash algorithm (blake3 | sha256)
KEY = "_roar_s3"  # our note in botocore's per-request context dict (never sent)
BUFFER_LIMIT = 64 << 20  # without an incremental BLAKE3, bodies up to this size are hashed
PENDING_LIMIT = 256 << 20  # multipart parts held while an earlier part has not been seen
CURSORS_LIMIT = 64  # objects read in ranges whose digest is being assembled

TAGGER = None  # a Ray worker sets a callable returning tags (the task) for each record

_lock = threading.RLock()
_state = {"installed": False, "pid": None, "fd": None, "file": None, "loaded": False}
_taps = weakref.WeakKeyDictionary()  # type: weakref.WeakKeyDictionary # body -> _Tap
_cursors = {}  # type: dict # (url, etag, version) -> _Cursor: a digest assembled from consecutive reads
_uploads = {}  # type: dict # UploadId -> _Upload
_last_read = {}  # type: dict # url -> (etag, version, size), for download_file
_patched = set()  # type: set # body classes whose read methods feed taps


def configure(path):
    """Write this process's records to ``path`` (a Ray worker: beside its preload log)."""
    with _lock:
        _state["file"] = path
        _state["pid"] = None


def install(handlers=None):
    """Add roar's handlers to botocore's built-in list (and to sessions already made)."""
    with _lock:
        if _state["installed"]:
            return
        _state["installed"] = True
    if handlers is None:
        import botocore.handlers as handlers
    first = handlers.REGISTER_FIRST
    specs = [
        ("before-parameter-build.s3.GetObject", _before, first),
        ("before-parameter-build.s3.PutObject", _before_put, first),
        ("before-parameter-build.s3.UploadPart", _before_part, first),
        ("before-parameter-build.s3.CreateMultipartUpload", _before, first),
        ("before-parameter-build.s3.CompleteMultipartUpload", _before, first),
        ("before-parameter-build.s3.AbortMultipartUpload", _before, first),
        # last: CopySource as botocore sends it (a dict already made a quoted string)
        ("before-parameter-build.s3.CopyObject", _before_copy, handlers.REGISTER_LAST),
        ("before-parameter-build.s3.UploadPartCopy", _before_copy, handlers.REGISTER_LAST),
        ("after-call.s3.GetObject", _after_get),
        ("after-call.s3.PutObject", _after_put),
        ("after-call.s3.CreateMultipartUpload", _after_create),
        ("after-call.s3.CompleteMultipartUpload", _after_complete),
        ("after-call.s3.AbortMultipartUpload", _after_abort),
        ("after-call.s3.CopyObject", _after_copy),
        ("after-call.s3.UploadPartCopy", _after_part_copy),
        ("creating-client-class.s3", _client_class, handlers.REGISTER_LAST),
    ]
    handlers.BUILTIN_HANDLERS.extend(specs)
    boto3 = sys.modules.get("boto3")  # a session made before (a Ray worker that imported boto3)
    session = getattr(getattr(boto3, "DEFAULT_SESSION", None), "_session", None)
    if session is not None:
        try:
            for spec in specs[:-1]:
                session.register(spec[0], spec[1])
        except Exception:  # noqa: BLE001,S110
            pass


# --- records ---------------------------------------------------------------------------------


def _emit(record):
    record["pid"] = os.getpid()
    record["t"] = time.time()
    if TAGGER is not None:
        try:
            tags = TAGGER()
            if tags:
                record["tags"] = tags
        except Exception:  # noqa: BLE001,S110
            pass
    line = (json.dumps(record) + "\n").encode()
    with _lock:
        fd = _fd()
        if fd is not None:
            try:
                os.write(fd, line)
            except OSError:
                pass


def _fd():
    pid = os.getpid()
    if _state["pid"] == pid:
        return _state["fd"]
    _state["pid"] = pid  # first record of this process (or of a fork's child)
    _state["fd"] = None
    path = _state["file"]
    if path is None:
        out = os.environ.get(OUT_ENV)
        if not out:
            return None
        path = os.path.join(out, f"s3-{pid}-{time.time_ns()}.jsonl")
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        _state["fd"] = os.open(path, flags, 0o600)
    except OSError:
        return None
    return _state["fd"]


def _url(params):
    return f"s3://{params.get('Bucket')}/{params.get('Key')}"


def _etag(parsed):
    etag = parsed.get("ETag")
    return str(etag).strip('"') if etag else None


def _ok(http_response):
    return getattr(http_response, "status_code", 500) < 300


VERSION_MARK = "?versionId="


def _source(params):
    """[url, version, etag] of a copy's source: ``CopySource`` a dict, or a string
    ``bucket/key[?versionId=...]`` (URL-quoted, as botocore sends it); the ETag only when the
    request requires one (``CopySourceIfMatch``)."""
    given = params.get("CopySource")
    if isinstance(given, dict):
        bucket, key, version = given.get("Bucket"), given.get("Key"), given.get("VersionId")
    elif isinstance(given, str):
        from urllib.parse import unquote

        path, version = given, None
        at = given.rfind(VERSION_MARK)
        if at >= 0:
            path, version = given[:at], unquote(given[at + len(VERSION_MARK) :])
        path = unquote(path).lstrip("/")
        if path.startswith("arn:") and "/object/" in path:  # an access point's object
            bucket, key = path.split("/object/", 1)
        else:
            bucket, _, key = path.partition("/")
    else:
        return None
    if not bucket or not key:
        return None
    match = params.get("CopySourceIfMatch")
    etag = None
    if isinstance(match, str) and "," not in match and match.strip() not in ("", "*"):
        etag = match.strip().strip('"')
    return [f"s3://{bucket}/{key}", str(version) if version else None, etag]


def _span(text):
    """(start, length) of a ``CopySourceRange`` ``bytes=a-b``; None when not one."""
    if not isinstance(text, str) or not text.startswith("bytes="):
        return None
    try:
        a, b = text[6:].split("-")
        start, end = int(a), int(b)
    except ValueError:
        return None
    return (start, end - start + 1) if 0 <= start <= end else None


# --- hashing ---------------------------------------------------------------------------------


def _algorithm():
    return os.environ.get(ALGORITHM_ENV) or "blake3"


class _Buffered:
    """BLAKE3 through roar's native module, which hashes whole buffers: chunks are held up to
    ``BUFFER_LIMIT`` bytes, beyond which the digest is unknown."""

    def __init__(self, hash_bytes, algorithm):
        self._hash = hash_bytes
        self._algorithm = algorithm
        self._chunks = []
        self._size = 0

    def update(self, data):
        if self._chunks is None:
            return
        self._size += len(data)
        if self._size > BUFFER_LIMIT:
            self._chunks = None
        else:
            self._chunks.append(bytes(data))

    def hexdigest(self):
        if self._chunks is None:
            return None
        return self._hash(b"".join(self._chunks), self._algorithm)


def _hasher():
    algorithm = _algorithm()
    if algorithm == "sha256":
        import hashlib

        return hashlib.sha256()
    try:
        import blake3

        return blake3.blake3()
    except Exception:  # noqa: BLE001,S110
        pass
    try:
        import roar._native as native

        _note_loaded(native)
        return _Buffered(native.hash_bytes, algorithm)
    except Exception:  # noqa: BLE001
        return None


def _note_loaded(native):
    """roar's own files read by this process only because of these hooks: not the job's."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    roar = sys.modules.get("roar")
    paths = [getattr(m, "__file__", None) for m in (roar, native)]
    _emit({"op": "loaded", "paths": [p for p in paths if p]})


def _digest_of(data):
    hasher = _hasher()
    if hasher is None:
        return None
    hasher.update(data)
    return hasher.hexdigest()


def _bytes_of(body):
    """The bytes a request body holds, when it holds them in memory (never read from a stream)."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    import io

    if isinstance(body, io.BytesIO) and not body.closed:
        return memoryview(body.getvalue())[body.tell() :]
    return None


def _file_of(body):
    """(path, start, length) when a request body is a local file's bytes: s3transfer's
    ReadFileChunk (upload_file), or an open regular file the program passed."""
    try:
        inner = getattr(body, "_fileobj", None)
        if inner is not None and hasattr(body, "_start_byte") and hasattr(body, "_size"):
            for _ in range(4):  # ReadFileChunk > InterruptReader > DeferredOpenFile (named)
                name = getattr(inner, "name", None)
                if isinstance(name, str):
                    return os.path.abspath(name), int(body._start_byte), int(body._size)
                inner = getattr(inner, "_fileobj", None)
                if inner is None:
                    break
            return None
        name = getattr(body, "name", None)
        if isinstance(name, str) and hasattr(body, "fileno") and hasattr(body, "tell"):
            st = os.fstat(body.fileno())
            start = body.tell()
            return os.path.abspath(name), start, st.st_size - start
    except Exception:  # noqa: BLE001
        return None
    return None


def _stat(path):
    try:
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return None


# --- GetObject: the body hashed as the program reads it -----------------------------------------


class _Cursor:
    def __init__(self, hasher):
        self.hasher = hasher
        self.pos = 0
        self.busy = True


class _Tap:
    def __init__(self, key, record, cursor, length, total):
        self.key = key
        self.record = record
        self.cursor = cursor
        self.left = length
        self.total = total

    def feed(self, data):
        n = len(data)
        if n == 0 or self.left <= 0:
            return
        if n > self.left:
            data = memoryview(data)[: self.left]
            n = self.left
        self.left -= n
        cursor = self.cursor
        if cursor is not None:
            cursor.hasher.update(data)
            cursor.pos += n
        if self.left == 0:
            self.finish()

    def finish(self):
        cursor = self.cursor
        if cursor is None:
            return
        cursor.busy = False
        if cursor.pos == self.total:
            with _lock:
                if _cursors.get(self.key) is cursor:
                    del _cursors[self.key]
            digest = cursor.hasher.hexdigest()
            if digest:
                record = dict(self.record)
                record.update(digest=digest, algorithm=_algorithm(), complete=True)
                _emit(record)


def _range_start(text):
    if not text or not str(text).startswith("bytes "):
        return None
    try:
        span, total = str(text)[6:].split("/")
        return int(span.split("-")[0]), (int(total) if total != "*" else None)
    except ValueError:
        return None


def _tap(body, key, record, start, length, total):
    with _lock:
        cursor = _cursors.get(key)
        if start == 0:
            hasher = _hasher()
            cursor = _Cursor(hasher) if hasher is not None else None
            if cursor is not None:
                if len(_cursors) >= CURSORS_LIMIT:
                    _cursors.pop(next(iter(_cursors)))
                _cursors[key] = cursor
        elif cursor is not None and not cursor.busy and cursor.pos == start:
            cursor.busy = True
        else:
            if cursor is not None:  # ranges read out of order or at once: no digest
                del _cursors[key]
            cursor = None
    if cursor is None:
        return
    tap = _Tap(key, record, cursor, length, total)
    if length == 0:
        tap.finish()
        return
    _patch(type(body))
    _taps[body] = tap


def _feed(body, data):
    try:
        tap = _taps.get(body)
        if tap is not None:
            tap.feed(data)
            if tap.left <= 0:
                _taps.pop(body, None)
    except Exception:  # noqa: BLE001,S110
        pass


def _spoil(body):
    """A read that bypasses our count (readlines): this body gives no digest."""
    tap = _taps.pop(body, None)
    if tap is not None and tap.cursor is not None:
        with _lock:
            if _cursors.get(tap.key) is tap.cursor:
                del _cursors[tap.key]


def _patch(cls):
    """Wrap the body class's read methods (once) so that bodies with a tap feed it."""
    if cls in _patched:
        return
    _patched.add(cls)
    import inspect

    for name in ("read", "readinto"):
        original = cls.__dict__.get(name)
        if original is None:
            for base in cls.__mro__[1:]:
                if name in base.__dict__ and base.__module__.split(".")[0] in (
                    "botocore",
                    "aiobotocore",
                ):
                    original = base.__dict__[name]
                    break
        if original is None:
            continue
        setattr(cls, name, _wrapped(cls, original, name, inspect.iscoroutinefunction(original)))
    original_lines = cls.__dict__.get("readlines")
    if original_lines is not None and not inspect.iscoroutinefunction(original_lines):

        def readlines(self, *args, **kwargs):
            _spoil(self)
            return original_lines(self, *args, **kwargs)

        cls.readlines = readlines


def _wrapped(cls, original, name, is_async):
    """``original`` that feeds the body's tap — only for bodies of ``cls`` itself: a subclass's
    own read calling its base's (botocore's checksum-validating body) counts once."""
    if name == "read":
        if is_async:

            async def read(self, *args, **kwargs):
                chunk = await original(self, *args, **kwargs)
                if type(self) is cls:
                    _feed(self, chunk)
                return chunk

            return read

        def read_sync(self, *args, **kwargs):
            chunk = original(self, *args, **kwargs)
            if type(self) is cls:
                _feed(self, chunk)
            return chunk

        return read_sync
    if is_async:

        async def readinto(self, b, *args, **kwargs):
            n = await original(self, b, *args, **kwargs)
            if n and type(self) is cls:
                _feed(self, memoryview(b)[:n])
            return n

        return readinto

    def readinto_sync(self, b, *args, **kwargs):
        n = original(self, b, *args, **kwargs)
        if n and type(self) is cls:
            _feed(self, memoryview(b)[:n])
        return n

    return readinto_sync


# --- handlers --------------------------------------------------------------------------------


def _before(params, context, **kwargs):
    try:
        note = {"url": _url(params), "upload": params.get("UploadId")}
        context[KEY] = note
        listed = params.get("MultipartUpload")  # CompleteMultipartUpload: the parts it joins
        if isinstance(listed, dict) and isinstance(listed.get("Parts"), list):
            note["parts"] = [int(p["PartNumber"]) for p in listed["Parts"]]
    except Exception:  # noqa: BLE001,S110
        pass


def _after_get(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        if note is None or not _ok(http_response):
            return
        url = note["url"]
        etag, version = _etag(parsed), parsed.get("VersionId")
        length = int(parsed.get("ContentLength") or 0)
        start, total = 0, length
        span = _range_start(parsed.get("ContentRange"))
        if span is not None:
            start, total = span[0], span[1] if span[1] is not None else -1
        record = {"op": "read", "via": "get_object", "url": url, "etag": etag,
                  "version_id": version, "size": total}  # fmt: skip
        _last_read[url] = (etag, version, total)
        _emit(dict(record, range=[start, length]) if span is not None else dict(record))
        body = parsed.get("Body")
        if body is not None and total >= 0:
            _tap(body, (url, etag, version), record, start, length, total)
    except Exception:  # noqa: BLE001,S110
        pass


def _before_put(params, context, **kwargs):
    try:
        note = {"url": _url(params)}
        body = params.get("Body", b"")
        data = _bytes_of(body)
        if data is not None:
            note["size"] = len(data)
            note["digest"] = _digest_of(data)
        else:
            where = _file_of(body)
            if where is not None:
                note["file"] = where
        context[KEY] = note
    except Exception:  # noqa: BLE001,S110
        pass


def _after_put(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        if note is None or not _ok(http_response):
            return
        record = {"op": "write", "via": "put_object", "url": note["url"],
                  "etag": _etag(parsed), "version_id": parsed.get("VersionId"),
                  "size": note.get("size", -1)}  # fmt: skip
        if note.get("digest"):
            record.update(digest=note["digest"], algorithm=_algorithm(), complete=True)
        where = note.get("file")
        if where is not None:
            path, start, length = where
            record["size"] = length
            if start == 0:
                record.update(path=path, stat=_stat(path))
        _emit(record)
    except Exception:  # noqa: BLE001,S110
        pass


class _Upload:
    """A multipart upload: its parts hashed in part order (parts that come early are held), or
    the ranges of a local file they were read from."""

    def __init__(self, url):
        self.url = url
        self.hasher = _hasher()
        self.next = 1
        self.pending = {}
        self.held = 0
        self.size = 0
        self.files = {}  # part number -> (path, start, length)
        self.copies = {}  # part number -> (source [url, version, etag], (start, length) | None)
        self.other = False  # a part sent as bytes or a file (not copied)
        self.lock = threading.Lock()

    def add(self, number, body):
        data = _bytes_of(body)
        with self.lock:
            self.other = True
            if data is None:
                where = _file_of(body)
                if where is None:
                    self.hasher = None
                else:
                    self.files[number] = where
                    self.size += where[2]
                return
            self.size += len(data)
            if self.hasher is None:
                return
            if number != self.next:
                self.pending[number] = bytes(data)
                self.held += len(data)
                if self.held > PENDING_LIMIT:
                    self.hasher, self.pending = None, {}
                return
            self.hasher.update(data)
            self.next += 1
            while self.next in self.pending:
                part = self.pending.pop(self.next)
                self.held -= len(part)
                self.hasher.update(part)
                self.next += 1

    def add_copy(self, number, source, span, given):
        """Part ``number`` copied from ``source``; ``span`` (start, length) of its range, None
        for the whole source (``given``: the request named a range, unreadable)."""
        with self.lock:
            self.hasher, self.pending = None, {}
            self.copies[number] = (source, span, given)

    def _copied(self, parts):
        """[url, version, etag] when the parts copy one source from its start, in order."""
        numbers = sorted(self.copies) if parts is None else sorted(parts)
        if self.other or not numbers or any(n not in self.copies for n in numbers):
            return None, -1
        copies = [self.copies[n] for n in numbers]
        if any(c[0] != copies[0][0] for c in copies):
            return None, -1
        if len(copies) == 1 and copies[0][1] is None and not copies[0][2]:
            return copies[0][0], -1  # the whole source in one part: its size is the source's
        spans = [c[1] for c in copies]
        if any(s is None for s in spans) or spans[0][0] != 0:
            return None, -1
        if any(a[0] + a[1] != b[0] for a, b in zip(spans, spans[1:])):  # noqa: B905
            return None, -1
        return copies[0][0], sum(s[1] for s in spans)

    def finish(self, record, parts=None):
        with self.lock:
            if self.copies:
                source, size = self._copied(parts)
                record["size"] = size
                if source is not None:
                    record["copy_of"] = source
                return
            record["size"] = self.size
            if self.files:
                spans = sorted(self.files.values(), key=lambda w: w[1])
                paths = {w[0] for w in spans}
                tiled = all(a[1] + a[2] == b[1] for a, b in zip(spans, spans[1:]))  # noqa: B905
                if len(paths) == 1 and spans[0][1] == 0 and tiled and self.next == 1:
                    path = spans[0][0]
                    st = _stat(path)
                    if st is not None and st[0] == self.size:
                        record.update(path=path, stat=st)
            elif self.hasher is not None and not self.pending and self.next > 1:
                digest = self.hasher.hexdigest()
                if digest:
                    record.update(digest=digest, algorithm=_algorithm(), complete=True)


def _after_create(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        upload = parsed.get("UploadId")
        if note is not None and upload and _ok(http_response):
            with _lock:
                _uploads[upload] = _Upload(note["url"])
    except Exception:  # noqa: BLE001,S110
        pass


def _before_part(params, context, **kwargs):
    try:
        upload = _uploads.get(params.get("UploadId"))
        if upload is not None:
            upload.add(int(params.get("PartNumber") or 0), params.get("Body", b""))
    except Exception:  # noqa: BLE001,S110
        pass


def _after_complete(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        if note is None or not _ok(http_response):
            return
        with _lock:
            upload = _uploads.pop(note.get("upload"), None)
        record = {"op": "write", "via": "multipart", "url": note["url"], "etag": _etag(parsed),
                  "version_id": parsed.get("VersionId"), "size": -1}  # fmt: skip
        if upload is not None:
            upload.finish(record, note.get("parts"))
        _emit(record)
    except Exception:  # noqa: BLE001,S110
        pass


def _before_copy(params, context, **kwargs):
    """CopyObject, UploadPartCopy: the source as the request names it."""
    try:
        context[KEY] = {
            "url": _url(params),
            "source": _source(params),
            "upload": params.get("UploadId"),
            "part": params.get("PartNumber"),
            "range": params.get("CopySourceRange"),
        }
    except Exception:  # noqa: BLE001,S110
        pass


def _copy_read(note, parsed, via):
    """The source's read (the version S3 said it copied, else the one asked for)."""
    source = list(note["source"])
    version = parsed.get("CopySourceVersionId")
    if version:
        source[1] = str(version)
    _emit({"op": "read", "via": via, "url": source[0], "etag": source[2],
           "version_id": source[1], "size": -1})  # fmt: skip
    return source


def _after_copy(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        result = parsed.get("CopyObjectResult")
        if note is None or not note.get("source") or not isinstance(result, dict):
            return
        if not _ok(http_response) or not result.get("ETag"):
            return
        source = _copy_read(note, parsed, "copy_object")
        _emit({"op": "write", "via": "copy_object", "url": note["url"], "etag": _etag(result),
               "version_id": parsed.get("VersionId"), "size": -1, "copy_of": source})  # fmt: skip
    except Exception:  # noqa: BLE001,S110
        pass


def _after_part_copy(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        result = parsed.get("CopyPartResult")
        if note is None or not isinstance(result, dict) or not _ok(http_response):
            return
        upload = _uploads.get(note.get("upload"))
        source = note.get("source")
        if source:
            source = _copy_read(note, parsed, "upload_part_copy")
        if upload is not None:
            given = note.get("range")
            upload.add_copy(int(note.get("part") or 0), source, _span(given), given is not None)
    except Exception:  # noqa: BLE001,S110
        pass


def _after_abort(http_response, parsed, context, **kwargs):
    try:
        note = context.get(KEY)
        if note is not None:
            with _lock:
                _uploads.pop(note.get("upload"), None)
    except Exception:  # noqa: BLE001,S110
        pass


def _client_class(class_attributes, **kwargs):
    """boto3's ``download_file`` (a managed transfer: concurrent ranged reads whose bytes go
    straight to the file): once it returns, the file holds the object; roar run hashes it."""
    try:
        original = class_attributes.get("download_file")
        if original is None or getattr(original, "_roar", False):
            return
        names = ("Bucket", "Key", "Filename")

        def download_file(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            try:
                given = dict(zip(names, args))  # noqa: B905 (Python 3.8+)
                given.update({k: v for k, v in kwargs.items() if k in names})
                _downloaded(given)
            except Exception:  # noqa: BLE001,S110
                pass
            return result

        download_file.__doc__ = original.__doc__
        download_file.__name__ = original.__name__
        download_file._roar = True
        class_attributes["download_file"] = download_file
    except Exception:  # noqa: BLE001,S110
        pass


def _downloaded(given):
    url = _url(given)
    path = os.path.abspath(os.fspath(given["Filename"]))
    etag, version, size = _last_read.get(url, (None, None, -1))
    _emit({"op": "read", "via": "download_file", "url": url, "etag": etag, "version_id": version,
           "size": size, "path": path, "stat": _stat(path)})  # fmt: skip
