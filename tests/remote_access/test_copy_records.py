"""Server-side copies, piece by piece: the hooks' reading of CopySource and of a multipart
upload's copied parts (roar/remote_access/_boot/_roar_s3.py), and how roar run gives a copy its
source's digest (roar/remote_access/session.py) — only for the source version a version id or
a required ETag names, and only when the copy is the whole source."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from roar.remote_access import session as session_module
from tests.remote_access.test_merge import objects, session

SRC, DST = "s3://bucket/src", "s3://bucket/dst"
A = "a" * 64


@pytest.fixture(scope="module")
def hooks() -> Any:
    path = Path(session_module.BOOT_DIR) / "_roar_s3.py"
    spec = importlib.util.spec_from_file_location("_roar_s3_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_copy_source_forms(hooks):
    assert hooks._source({"CopySource": "b/dir/my%20key%2B1%25?versionId=v%2B1"}) == [
        "s3://b/dir/my key+1%",
        "v+1",
        None,
    ]
    assert hooks._source({"CopySource": "/b/k", "CopySourceIfMatch": '"e1"'}) == [
        "s3://b/k",
        None,
        "e1",
    ]
    given = {"CopySource": {"Bucket": "b", "Key": "k", "VersionId": "v"}, "CopySourceIfMatch": "*"}
    assert hooks._source(given) == ["s3://b/k", "v", None]
    arn = "arn:aws:s3:us-east-1:1:accesspoint/ap/object/k/x"
    assert hooks._source({"CopySource": arn})[0] == "s3://arn:aws:s3:us-east-1:1:accesspoint/ap/k/x"
    assert hooks._source({"CopySource": "nokey"}) is None
    assert hooks._source({}) is None


def upload(hooks: Any, parts: dict[int, tuple[list[Any], str | None]]) -> dict[str, Any]:
    u = hooks._Upload(DST)
    for number, (source, given) in parts.items():
        u.add_copy(number, source, hooks._span(given), given is not None)
    record: dict[str, Any] = {}
    u.finish(record)
    assert u.hasher is None
    return record


def test_copied_parts_link_only_a_whole_source_in_order(hooks):
    s = [SRC, None, "e1"]
    tiled = {2: (s, "bytes=5-9"), 1: (s, "bytes=0-4"), 3: (s, "bytes=10-10")}
    assert upload(hooks, tiled) == {"size": 11, "copy_of": s}
    assert upload(hooks, {1: (s, None)}) == {"size": -1, "copy_of": s}
    assert "copy_of" not in upload(hooks, {1: (s, "bytes=1-4"), 2: (s, "bytes=5-9")})  # not at 0
    assert "copy_of" not in upload(hooks, {1: (s, "bytes=0-4"), 2: (s, "bytes=6-9")})  # a gap
    other = [SRC + "2", None, "e1"]
    assert "copy_of" not in upload(hooks, {1: (s, "bytes=0-4"), 2: (other, "bytes=5-9")})
    assert "copy_of" not in upload(hooks, {1: (s, None), 2: (s, None)})  # the source twice
    assert "copy_of" not in upload(hooks, {1: (s, "bytes=x")})


def test_copied_and_sent_parts_give_neither_digest_nor_link(hooks):
    u = hooks._Upload(DST)
    u.add(1, b"x" * 10)
    u.add_copy(2, [SRC, "v", None], (0, 5), True)
    record: dict[str, Any] = {}
    u.finish(record)
    assert "copy_of" not in record and "digest" not in record


def rec(op: str, url: str, t: float, **more: Any) -> dict[str, Any]:
    return {"op": op, "url": url, "etag": None, "version_id": None, "size": -1, "t": t, "pid": 7,
            **more}  # fmt: skip


def copy(t: float, version: str | None, etag: str | None, **more: Any) -> list[dict[str, Any]]:
    src = {"etag": etag, "version_id": version, "via": "copy_object"}
    dst = {"etag": "d1", "version_id": "dv", "via": "copy_object", "copy_of": [SRC, version, etag]}
    return [rec("read", SRC, t, **src), rec("write", DST, t + 0.1, **{**dst, **more})]


def got(repo: Path, tmp_path: Path, records: list[dict[str, Any]]) -> tuple[Any, ...]:
    files, rows, metadata, warnings = objects(repo, session(tmp_path, records))
    return {(f.role, f.path): (f.digest, f.size) for f in files}, rows, metadata, warnings


def test_a_copy_gets_the_digest_and_size_of_the_version_the_job_read(repo: Path, tmp_path: Path):
    read = rec("read", SRC, 1, etag="e1", version_id="v1", size=3, digest=A, algorithm="blake3",
               via="get_object")  # fmt: skip
    files, rows, metadata, warnings = got(repo, tmp_path, [read, *copy(2, "v1", None)])
    assert files == {("input", SRC): (A, 3), ("output", DST): (A, 3)} and warnings == []
    assert sorted(rows) == [(DST, "d1", "dv", 3, A), (SRC, "e1", "v1", 3, A)]
    assert [o["via"] for o in metadata["s3"] if o["url"] == SRC] == [["get_object", "copy_object"]]


def test_a_copy_of_another_version_or_of_an_unnamed_one_gets_nothing(repo: Path, tmp_path: Path):
    read = rec("read", SRC, 1, etag="e1", version_id="v1", size=3, digest=A, algorithm="blake3")
    for version, etag in (("v2", None), (None, None), ("null", None), ("v1", "e2")):
        sub = tmp_path / f"{version}-{etag}"
        sub.mkdir()
        files, _rows, metadata, warnings = got(repo, sub, [read, *copy(2, version, etag)])
        assert ("output", DST) not in files, (version, etag)
        assert len(warnings) == 1 and DST in warnings[0]


def test_a_copy_named_by_its_required_etag_and_a_copy_of_a_copy(repo: Path, tmp_path: Path):
    read = rec("read", SRC, 1, etag="e1", size=3, digest=A, algorithm="blake3")
    again = rec("write", "s3://bucket/third", 3, etag="d1", version_id="tv", via="copy_object",
                copy_of=[DST, "dv", None])  # fmt: skip
    files, _rows, _metadata, warnings = got(repo, tmp_path, [read, *copy(2, None, "e1"), again])
    assert files[("output", DST)] == files[("output", "s3://bucket/third")] == (A, 3)
    assert warnings == []


def test_a_copy_smaller_than_its_source_is_a_part_of_it(repo: Path, tmp_path: Path):
    read = rec("read", SRC, 1, etag="e1", version_id="v1", size=3, digest=A, algorithm="blake3")
    files, _rows, _metadata, warnings = got(repo, tmp_path, [read, *copy(2, "v1", "e1", size=2)])
    assert ("output", DST) not in files and len(warnings) == 1


def test_a_copy_of_a_version_recorded_before_gets_its_digest(repo: Path, tmp_path: Path):
    from roar.store.connection import opened

    with opened(repo / ".roar" / "roar.db") as conn:  # what an earlier job recorded
        artifact = conn.execute(
            "INSERT INTO artifacts (digest, algorithm, size, first_seen_at) "
            "VALUES (?, 'blake3', 3, 0)",
            (A,),
        ).lastrowid
        conn.execute(
            "INSERT INTO remote_objects (url, etag, version_id, size, artifact_id, first_seen_at)"
            " VALUES (?, 'e1', 'v1', 3, ?, 0)",
            (SRC, artifact),
        )
        conn.commit()
    files, rows, _metadata, warnings = got(repo, tmp_path, copy(2, "v1", None))
    assert files == {("input", SRC): (A, 3), ("output", DST): (A, 3)} and warnings == []
    assert (SRC, "e1", "v1", 3, A) in rows  # the source's read: that version's ETag
    other = tmp_path / "other"
    other.mkdir()
    files, _rows, _metadata, warnings = got(repo, other, copy(2, "v2", None))
    assert files == {} and len(warnings) == 1
