"""Paths are bytes: a name with the byte 0xff and a name with the characters ``\\xff`` are two
files, recorded apart under every backend, kept exactly in the store (TEXT for UTF-8, a BLOB of
the bytes otherwise), escaped unambiguously in JSON (``\\udcff`` vs ``\\\\xff``) and in text
(git-style quoting), and each found by `roar show` — real runs, real store."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import blake3
import pytest

BACKENDS = ("ebpf", "preload", "ptrace")
WRITE = r"""printf one > "$(printf 'coll\377.txt')"; printf two > 'coll\xff.txt'"""


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture(params=BACKENDS)
def two_files(request, repo: Path, run_roar) -> tuple[Path, str, str]:
    """@1 writes both names, @2 reads both; returns (repo, the 0xff path, the literal path)."""
    run_roar("run", "--tracer", request.param, "sh", "-c", WRITE, cwd=repo)
    run_roar("run", "--tracer", request.param, "sh", "-c", "cat coll* > /dev/null", cwd=repo)
    byte_path = os.fsdecode(os.fsencode(str(repo)) + b"/coll\xff.txt")
    literal = str(repo / "coll\\xff.txt")
    assert os.path.isfile(byte_path) and os.path.isfile(literal)
    return repo, byte_path, literal


def test_two_names_are_two_records_with_their_own_hashes(two_files, run_roar):
    repo, byte_path, literal = two_files
    shown = run_roar("show", "@1", "--json", cwd=repo)
    outputs = {f["path"]: f["hash"] for f in shown.json()["outputs"]}
    assert outputs == {byte_path: h(b"one"), literal: h(b"two")}
    # JSON: the byte is \udcff (os.fsencode(json.loads(...)) gives it back), a backslash is \\
    assert '/coll\\udcff.txt"' in shown.stdout and '/coll\\\\xff.txt"' in shown.stdout
    raw = {os.fsencode(f["path"]) for f in json.loads(shown.stdout)["outputs"]}
    assert os.fsencode(byte_path) in raw and os.fsencode(byte_path).endswith(b"/coll\xff.txt")
    inputs = {
        f["path"]: f["hash"] for f in run_roar("show", "@2", "--json", cwd=repo).json()["inputs"]
    }
    assert inputs == outputs

    rows = sqlite3.connect(repo / ".roar" / "roar.db").execute(
        "SELECT path, typeof(path) FROM job_files WHERE job_id = 1 ORDER BY typeof(path)"
    )
    assert list(rows) == [
        (os.fsencode(byte_path), "blob"),  # the exact bytes
        (literal, "text"),
    ]

    text = run_roar("show", "@1", cwd=repo).stdout  # quoted, git-style, only these two
    assert '"coll\\xff.txt"' in text and '"coll\\\\xff.txt"' in text


def test_show_finds_each_file_on_disk_and_after_it_is_gone(two_files, run_roar):
    repo, byte_path, literal = two_files
    for path, content in ((byte_path, b"one"), (literal, b"two")):
        data = run_roar("show", path, "--json", cwd=repo).json()
        assert data["artifact"]["hash"] == h(content) and data["artifact"]["path"] == path
        assert [j["step_ref"] for j in data["produced_by"]] == ["@1"]
        assert [j["step_ref"] for j in data["consumed_by"]] == ["@2"]

    run_roar("run", "sh", "-c", "rm coll*", cwd=repo)
    job = run_roar("show", "@3", "--json", cwd=repo).json()
    assert {f["path"]: f["hash"] for f in job["deleted"]} == {
        byte_path: h(b"one"),
        literal: h(b"two"),
    }
    for path, content in ((byte_path, b"one"), (literal, b"two")):  # found by path in the store
        data = run_roar("show", path, "--json", cwd=repo).json()
        assert data["artifact"]["hash"] == h(content) and data["artifact"]["present"] is False
        assert [j["step_ref"] for j in data["deleted_by"]] == ["@3"]
    dag = run_roar("dag", "--show-artifacts", cwd=repo).stdout
    assert (
        '("coll\\xff.txt") [deleted by @3]' in dag and '("coll\\\\xff.txt") [deleted by @3]' in dag
    )
