"""How roar run turns the hooks' records into a job's remote inputs and outputs
(roar/remote_access/session.py), on a real store: a read of the job's own output is not an
input, a read before an overwrite is, the last write is the output, a linked file that changed
since gives no hash, a digest of another algorithm is not used."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from roar.remote_access.session import RemoteSession
from roar.store.connection import opened
from roar.store.writer import HashedFile

URL = "s3://bucket/key"


def session(tmp_path: Path, records: list[dict[str, Any]]) -> RemoteSession:
    out = tmp_path / "out"
    out.mkdir()
    (out / "s3-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + "{cut")
    s = RemoteSession(str(out), {})
    s._read()
    return s


def rec(op: str, t: float, etag: str, digest: str | None, **more: Any) -> dict[str, Any]:
    r = {"op": op, "url": URL, "etag": etag, "version_id": None, "size": 3, "t": t, "pid": 7}
    if digest:
        r.update(digest=digest, algorithm="blake3")
    return {**r, **more}


def objects(repo: Path, s: RemoteSession) -> tuple[list[HashedFile], list, dict, list[str]]:
    files: list[HashedFile] = []
    metadata: dict[str, Any] = {}
    warnings: list[str] = []
    with opened(repo / ".roar" / "roar.db") as conn:
        rows = s.objects(conn, files, "blake3", metadata, warnings)
    return files, rows, metadata, warnings


def roles(files: list[HashedFile]) -> dict[str, str | None]:
    return {f.role: f.digest for f in files}


def test_reading_back_the_jobs_own_output_is_not_an_input(repo: Path, tmp_path: Path):
    s = session(tmp_path, [rec("write", 1, "e1", "a" * 64), rec("read", 2, "e1", "a" * 64)])
    files, rows, metadata, warnings = objects(repo, s)
    assert roles(files) == {"output": "a" * 64}
    assert [o["role"] for o in metadata["s3"]] == ["output"]
    assert rows == [(URL, "e1", None, 3, "a" * 64)] and warnings == []


def test_a_read_before_an_overwrite_is_an_input_and_the_last_write_the_output(
    repo: Path, tmp_path: Path
):
    s = session(
        tmp_path,
        [
            rec("read", 1, "e0", "0" * 64),
            rec("write", 2, "e1", "1" * 64),
            rec("write", 3, "e2", "2" * 64),
        ],
    )
    files, rows, _metadata, _warnings = objects(repo, s)
    assert roles(files) == {"input": "0" * 64, "output": "2" * 64}
    assert {r[1] for r in rows} == {"e0", "e2"}


def test_a_linked_file_that_changed_since_gives_no_hash(repo: Path, tmp_path: Path):
    local = tmp_path / "downloaded.bin"
    local.write_bytes(b"abc")
    st = os.stat(local)
    s = session(tmp_path, [rec("read", 1, "e1", None, path=str(local),
                               stat=[st.st_size, st.st_mtime_ns + 1])])  # fmt: skip
    files, rows, metadata, warnings = objects(repo, s)
    assert files == [] and rows == []
    assert metadata["s3"][0]["hash"] is None and len(warnings) == 1


def test_a_linked_file_unchanged_is_hashed(repo: Path, tmp_path: Path):
    blake3 = pytest.importorskip("blake3").blake3
    local = tmp_path / "downloaded.bin"
    local.write_bytes(b"abc")
    st = os.stat(local)
    s = session(tmp_path, [rec("read", 1, "e1", None, path=str(local),
                               stat=[st.st_size, st.st_mtime_ns])])  # fmt: skip
    files, _rows, _metadata, warnings = objects(repo, s)
    assert roles(files) == {"input": blake3(b"abc").hexdigest()} and warnings == []


def test_a_digest_of_another_algorithm_is_not_used(repo: Path, tmp_path: Path):
    s = session(
        tmp_path, [{**rec("read", 1, "e1", None), "digest": "f" * 64, "algorithm": "sha256"}]
    )
    files, _rows, metadata, _warnings = objects(repo, s)
    assert files == [] and metadata["s3"][0]["hash"] is None
