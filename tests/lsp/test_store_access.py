"""The store is the recorder's: the server reads it (mode=ro) and survives it being missing,
damaged or replaced, saying so once."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest
from pytest_lsp import LanguageClient

from tests.conftest import make_repo
from tests.lsp.conftest import column_of, hover_at, open_doc, roar

pytestmark = pytest.mark.asyncio

TEXT = 'data = open("data/raw.csv")\n'


def store_warnings(client: LanguageClient) -> list[str]:
    return [m.message for m in client.log_messages if "roar store unavailable" in m.message]


def snapshot(db) -> tuple[str, int]:
    """The database's bytes (after folding the WAL in) and its hash-cache size."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (cached,) = conn.execute("SELECT COUNT(*) FROM hash_cache").fetchone()
    finally:
        conn.close()
    return hashlib.sha256(db.read_bytes()).hexdigest(), cached


async def hover_texts(client: LanguageClient, uri: str, times: int = 3) -> list[str | None]:
    results = [await hover_at(client, uri, 0, column_of(TEXT, "raw.csv")) for _ in range(times)]
    return [r.contents.value if r else None for r in results]


async def test_missing_store_hovers_say_not_tracked(fresh_lsp, tmp_path):
    root = make_repo(tmp_path / "plain")  # a git repo where roar was never initialised
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("x\n")
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "main.py", TEXT)
    assert await hover_texts(client, uri) == ["**roar**: not tracked by roar"] * 3
    assert len(store_warnings(client)) == 1  # one line, not one per hover
    assert not (root / ".roar").exists()  # a reader never creates the store


async def test_damaged_store_then_repaired(fresh_lsp, fresh_pipeline):
    root = fresh_pipeline.root
    db = root / ".roar" / "roar.db"
    # roar run leaves its jobs in the WAL for the next opener: fold them into roar.db first,
    # so that its bytes alone are the good store.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    good = db.read_bytes()
    for suffix in ("-wal", "-shm"):
        (root / ".roar" / f"roar.db{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"not a database" * 500)
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "main.py", TEXT)
    assert await hover_texts(client, uri, 2) == ["**roar**: not tracked by roar"] * 2
    assert len(store_warnings(client)) == 1

    replacement = db.with_name("roar.db.new")
    replacement.write_bytes(good)
    replacement.replace(db)  # a new file (new inode): the poller reopens it
    for _ in range(100):
        (text,) = await hover_texts(client, uri, 1)
        if text and "`raw.csv`" in text:
            break
        await asyncio.sleep(0.1)
    assert text and "no recorded job (a source input)" in text and "**current**" in text


async def test_the_server_never_writes_the_store(fresh_lsp, fresh_pipeline):
    """Hovers that need a digest the cache lacks hash in memory: the store is untouched."""
    root = fresh_pipeline.root
    db = root / ".roar" / "roar.db"
    before = snapshot(db)
    (root / "data" / "raw.csv").write_text("a,b\n9,9\n")  # new mtime: not in the hash cache
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "main.py", TEXT)
    texts = await hover_texts(client, uri, 2)
    assert all(t and "**modified on disk**" in t for t in texts)
    assert snapshot(db) == before
    # and a writer is never locked out while the server is connected
    roar("run", "python", "prep.py", "data/raw.csv", "data/clean.csv", cwd=root)
