"""Stores of another schema than this roar's: the server reads an older one as it is (it never
migrates: it opens the store read-only) and tells the user, once, when a newer roar wrote it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import blake3
import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from roar.store import migrations
from tests.conftest import commit_all, make_repo
from tests.lsp.conftest import column_of, hover_at, open_doc, roar

pytestmark = pytest.mark.asyncio

TEXT = 'data = open("data/clean.csv")\n'


def old_store_project(root: Path, version: int) -> Path:
    """A roar project whose store has schema ``version`` (what that roar release created) and
    one recorded job, ``python prep.py data/raw.csv data/clean.csv``, as that release wrote it."""
    make_repo(root)
    (root / "README.md").write_text("old store\n")
    (root / "prep.py").write_text("print('prep')\n")
    data = root / "data"
    data.mkdir()
    (data / "raw.csv").write_text("a,b\n1,2\n")
    (data / "clean.csv").write_text("A,B\n1,2\n")
    (root / ".gitignore").write_text("data/\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "project")
    db = root / ".roar" / "roar.db"
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(conn, target=version)
    now = time.time()
    conn.execute("INSERT INTO sessions (uid, created_at, is_active) VALUES ('s1', ?, 1)", (now,))
    conn.execute(
        "INSERT INTO jobs (uid, session_id, kind, step_number, step_identity, command, argv, "
        "cwd, started_at, ended_at, exit_code, tracer) VALUES ('0ldj0b01', 1, 'run', 1, 'prep', "
        "'python prep.py data/raw.csv data/clean.csv', "
        '\'["python", "prep.py", "data/raw.csv", "data/clean.csv"]\', \'\', ?, ?, 0, \'ptrace\')',
        (now - 60, now - 59),
    )
    for art_id, name in ((1, "raw.csv"), (2, "clean.csv")):
        body = (data / name).read_bytes()
        conn.execute(
            "INSERT INTO artifacts (id, algorithm, digest, size, is_composite, first_seen_at, "
            "first_seen_path) VALUES (?, 'blake3', ?, ?, 0, ?, ?)",
            (art_id, blake3.blake3(body).hexdigest(), len(body), now, str(data / name)),
        )
    conn.executemany(
        "INSERT INTO job_files (job_id, role, path, artifact_id) VALUES (1, ?, ?, ?)",
        [("input", str(data / "raw.csv"), 1), ("output", str(data / "clean.csv"), 2)],
    )
    conn.close()
    return db


def version_of(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return migrations.current_version(conn)
    finally:
        conn.close()


def shown(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Warning]


async def hover_text(client: LanguageClient, uri: str) -> str | None:
    found = await hover_at(client, uri, 0, column_of(TEXT, "clean.csv"))
    if found is None:
        return None
    assert isinstance(found.contents, types.MarkupContent)
    return found.contents.value


async def test_a_store_of_the_first_schema_is_read_as_it_is(fresh_lsp, tmp_path):
    """Issue 13.14: on a store no roar command had upgraded yet, hovers returned nothing and
    only the server's log said `no such column`."""
    root = tmp_path / "project"
    db = old_store_project(root, version=1)
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "main.py", TEXT)

    text = await hover_text(client, uri)
    assert text is not None, [m.message for m in client.log_messages]
    assert "**Produced by** @1" in text and "python prep.py" in text and "**current**" in text
    assert "raw.csv" in text  # the producer's input
    assert not [m for m in client.log_messages if "no such column" in m.message]
    assert shown(client) == []  # nothing for the user to do
    assert version_of(db) == 1  # read as it is: the server never migrates

    # a roar command upgrades it; the server goes on reading it
    roar("status", cwd=root)
    assert version_of(db) == migrations.LATEST
    await asyncio.sleep(0.5)
    again = await hover_text(client, uri)
    assert again is not None and "**Produced by** @1" in again and "python prep.py" in again


async def test_a_store_of_a_newer_roar_is_announced_once(fresh_lsp, tmp_path):
    root = tmp_path / "project"
    db = old_store_project(root, version=migrations.LATEST)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")  # as a newer roar leaves it
    conn.close()
    client = await fresh_lsp(root)
    uri = open_doc(client, root / "main.py", TEXT)

    texts = [await hover_text(client, uri) for _ in range(3)]
    newer = f"from a newer roar (schema v{migrations.LATEST + 1}"
    upgrade = "upgrade the roar that runs roar-lsp"
    assert all(t and newer in t and upgrade in t for t in texts), texts
    await asyncio.sleep(0.5)  # a few polls: still shown only once
    assert len(shown(client)) == 1 and newer in shown(client)[0], shown(client)

    # once roar is upgraded (here: the store is back at this roar's schema) hovers answer
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST}")
    conn.close()
    for _ in range(50):
        text = await hover_text(client, uri)
        if text and "**Produced by** @1" in text:
            break
        await asyncio.sleep(0.1)
    assert text and "**Produced by** @1" in text and "python prep.py" in text
