"""Finding a step's latest run without loading its session: one statement on the
``(session_id, step_number)`` index, for commands that name ``@N`` or ``@BN`` on a big store."""

from __future__ import annotations

import sqlite3


def latest_run_uid(
    conn: sqlite3.Connection, session_id: int, step_number: int, *, build: bool
) -> str | None:
    """The uid of the newest run (by start time, then id) of step ``@N`` (``@BN`` when
    ``build``) in the session; None when the session has no such step. Build steps are numbered
    apart from the others (schema 6), as ``history.resolve_step`` counts them."""
    row = conn.execute(
        "SELECT uid FROM jobs WHERE session_id = ? AND step_number = ? "
        f"AND kind {'=' if build else '!='} 'build' ORDER BY started_at DESC, id DESC LIMIT 1",
        (session_id, step_number),
    ).fetchone()
    return str(row[0]) if row else None
