"""Labels in the store (schema 7): reads and transactional writes over a ``sqlite3.Connection``.

Every change is a new row of ``labels`` holding the entity's whole document after it, so the
history is the rows in version order and the current labels are the newest row. An entity is
``(kind, key)``: ``("dag", session uid)``, ``("job", job uid)`` or ``("artifact", digest)``
(content: the same bytes under any name, whatever the algorithm that named them).

Reads work on a store of an older schema too (a read-only connection never migrates: the
language server may open a store no roar command has upgraded yet): it has no labels.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

from roar.records import record
from roar.store.connection import transaction

_BATCH = 500
# Beyond this many keys one read of every current document of the kind beats IN (...) batches:
# labelled entities are few next to the jobs of a large session.
_SCAN_OVER = 2_000


@record(frozen=True)
class Entity:
    """What carries labels: ``kind`` is dag | job | artifact, ``key`` its uid or hash."""

    kind: str
    key: str


@record(frozen=True)
class LabelVersion:
    version: int
    document: dict
    operation: str  # set | unset | cp
    change: dict  # what this version changed (set: the values; unset: the keys; cp: the source)
    created_at: float


def current(conn: sqlite3.Connection, entity: Entity) -> LabelVersion | None:
    """The entity's newest version (None: never labelled)."""
    try:
        row = conn.execute(
            "SELECT version, document, operation, change, created_at FROM labels "
            "WHERE entity = ? AND entity_key = ? ORDER BY version DESC LIMIT 1",
            (entity.kind, entity.key),
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _no_labels_table(exc):
            return None
        raise
    return _version(row) if row else None


def history(conn: sqlite3.Connection, entity: Entity) -> list[LabelVersion]:
    """Every version of the entity's labels, oldest first."""
    try:
        rows = conn.execute(
            "SELECT version, document, operation, change, created_at FROM labels "
            "WHERE entity = ? AND entity_key = ? ORDER BY version",
            (entity.kind, entity.key),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if _no_labels_table(exc):
            return []
        raise
    return [_version(r) for r in rows]


def documents(conn: sqlite3.Connection, kind: str, keys: Iterable[str]) -> dict[str, dict]:
    """key → current labels, for the keys of one kind that have any (empty documents left out)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found: dict[str, tuple[int, str]] = {}
    try:
        if len(wanted) > _SCAN_OVER:
            rows: Iterable[tuple[str, int, str]] = conn.execute(
                "SELECT entity_key, version, document FROM labels WHERE entity = ?", (kind,)
            ).fetchall()
            _newest(found, rows, set(wanted))
        else:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start : start + _BATCH]
                marks = ",".join("?" * len(batch))
                rows = conn.execute(
                    "SELECT entity_key, version, document FROM labels "
                    f"WHERE entity = ? AND entity_key IN ({marks})",
                    (kind, *batch),
                ).fetchall()
                _newest(found, rows, None)
    except sqlite3.OperationalError as exc:
        if _no_labels_table(exc):
            return {}
        raise
    docs = {key: json.loads(doc) for key, (_v, doc) in found.items()}
    return {key: doc for key, doc in docs.items() if doc}


def update(
    conn: sqlite3.Connection,
    entity: Entity,
    operation: str,
    change: dict[str, Any],
    apply: Callable[[dict], dict],
) -> LabelVersion | None:
    """Write the entity's next version: ``apply(current document) → new document``, read and
    written in one ``BEGIN IMMEDIATE`` transaction (two writers never both make version N).
    Returns the new version, or None when the document did not change (no version is made)."""
    with transaction(conn):
        row = conn.execute(
            "SELECT version, document FROM labels WHERE entity = ? AND entity_key = ? "
            "ORDER BY version DESC LIMIT 1",
            (entity.kind, entity.key),
        ).fetchone()
        version, before = (int(row[0]), json.loads(row[1])) if row else (0, {})
        after = apply(json.loads(json.dumps(before)))  # apply gets its own copy
        if after == before:
            return None
        made = LabelVersion(version + 1, after, operation, change, time.time())
        conn.execute(
            "INSERT INTO labels (entity, entity_key, version, document, operation, change, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entity.kind, entity.key, made.version, _dump(after), operation, _dump(change),
             made.created_at),
        )  # fmt: skip
    return made


def _newest(
    found: dict[str, tuple[int, str]],
    rows: Iterable[tuple[str, int, str]],
    wanted: set[str] | None,
) -> None:
    for key, version, doc in rows:
        if wanted is not None and key not in wanted:
            continue
        if key not in found or version > found[key][0]:
            found[key] = (int(version), doc)


def _version(row: tuple[Any, ...]) -> LabelVersion:
    version, document, operation, change, created_at = row
    return LabelVersion(
        int(version), json.loads(document), operation, json.loads(change or "{}"), created_at
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def _no_labels_table(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc) and "labels" in str(exc)
