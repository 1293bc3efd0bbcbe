"""The lookup documents built by PostgreSQL itself, as JSON text, in one statement each.

On PostgreSQL a statement costs the server process ~0.1-0.2 ms of CPU whatever it reads (the
driver's Python, the round trip), so a lookup of five statements plus building the document in
Python cost ~1.5 ms of CPU; 50 closed-loop clients queued behind it (issue 17). Here the
database assembles the whole document (json_build_object, json_agg) and the server sends its text
as it comes: one statement after the key's, nothing decoded or encoded in Python.

The documents are the ones glaas.service.lookup builds from rows on SQLite, key for key and
value for value (tests/registry/test_pg_documents.py compares them on a rich lineage): the same
visibility (a grant in the viewer's scopes), the same attribution (the earliest such grant), the
same orders. Text is sorted with COLLATE "C", byte order, which for UTF-8 is Python's code point
order. One difference only in the spelling: a float with no fraction is written as PostgreSQL
writes it (``1``, not ``1.0``); JSON readers take both as the same number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glaas.service import NotFound

SCOPES = "ANY(%(scopes)s)"


def _visible(target: str) -> str:
    """visibility.visible: ``target`` has a grant in the viewer's scopes."""
    return f"EXISTS (SELECT 1 FROM grants g WHERE g.target_hash = {target} AND g.scope = {SCOPES})"


def _first_grant(target: str, alias: str) -> str:
    """visibility.attribution: the earliest grant of ``target`` the viewer sees, as ``alias``."""
    return (
        f"LEFT JOIN LATERAL (SELECT g.registered_by, g.registered_at FROM grants g "
        f"WHERE g.target_hash = {target} AND g.scope = {SCOPES} "
        f"ORDER BY g.registered_at LIMIT 1) {alias} ON true"
    )


def _attributed(row: str, grant: str) -> str:
    """registered_at and registered_by: the grant's when there is one, else the row's own."""
    return (
        f"'registered_at', CASE WHEN {grant}.registered_by IS NULL THEN {row}.registered_at "
        f"ELSE {grant}.registered_at END, "
        f"'registered_by', COALESCE({grant}.registered_by, {row}.registered_by)"
    )


def _array(select: str) -> str:
    """A JSON array of what ``select`` aggregates, [] when it finds nothing."""
    return f"COALESCE(({select}), '[]'::json)"


def _labels(kind: str, target: str) -> str:
    """lookup.labels: the current values (the latest event of each key, removals dropped) and
    the history, oldest first, of the events in the viewer's scopes."""
    where = f"l.target_kind = '{kind}' AND l.target = {target} AND l.scope = {SCOPES}"
    current = (
        "SELECT json_object_agg(c.key, c.value) FROM (SELECT DISTINCT ON (l.key) l.key, l.value "
        f"FROM label_events l WHERE {where} ORDER BY l.key, l.set_at DESC, l.id DESC) c "
        "WHERE c.value IS NOT NULL"
    )
    history = (
        "SELECT json_agg(json_build_object('key', l.key, 'value', l.value, 'set_at', l.set_at, "
        f"'registered_by', l.registered_by) ORDER BY l.set_at, l.id) FROM label_events l "
        f"WHERE {where}"
    )
    return (
        f"json_build_object('current', COALESCE(({current}), '{{}}'::json), "
        f"'history', {_array(history)})"
    )


def _files(job: str, role: str) -> str:
    return _array(
        "SELECT json_agg(json_build_object('path', e.path, 'hash', e.artifact_hash) "
        'ORDER BY e.path COLLATE "C", e.artifact_hash) '
        f"FROM edges e WHERE e.job_hash = {job}.job_hash AND e.role = '{role}'"
    )


def _job(j: str, grant: str, more: str = "") -> str:
    """lookup._job_document of the jobs row ``j``, attributed by ``grant``, plus ``more``."""
    return (
        f"json_build_object('job_hash', {j}.job_hash, 'uid', {j}.uid, 'kind', {j}.kind, "
        f"'step_number', {j}.step_number, 'step_name', {j}.step_name, 'command', {j}.command, "
        f"'argv', {j}.argv, 'cwd', {j}.cwd, 'exit_code', {j}.exit_code, "
        f"'interrupted', {j}.interrupted, 'started_at', {j}.started_at, "
        f"'ended_at', {j}.ended_at, 'duration_seconds', {j}.duration_seconds, "
        f"'tracer', {j}.tracer, 'git', json_build_object('remote', {j}.git_remote, "
        f"'commit', {j}.git_commit, 'branch', {j}.git_branch, 'dirty', {j}.git_dirty, "
        f"'diff_hash', {j}.git_diff_hash), 'packages', {j}.packages, "
        f"'env_names', {j}.env_names, 'metadata', {j}.metadata, "
        f"'inputs', {_files(j, 'read')}, 'outputs', {_files(j, 'write')}, "
        f"'deleted', {j}.deleted, 'cell', {j}.cell, {_attributed(j, grant)}{more})"
    )


def _distinct_sorted(column: str, select_from: str) -> str:
    return _array(
        f'SELECT json_agg(v.x ORDER BY v.x COLLATE "C") FROM (SELECT DISTINCT {column} AS x '
        f"{select_from}) v"
    )


def _edges_seen(role: str | None = None) -> str:
    """The artifact's edges whose job the viewer sees (of one role)."""
    which = f" AND e.role = '{role}'" if role else ""
    return f"FROM edges e WHERE e.artifact_hash = a.hash{which} AND {_visible('e.job_hash')}"


ARTIFACT = (
    "SELECT json_build_object('hash', a.hash, 'size', a.size, 'composite', a.composite, "
    f"{_attributed('a', 'att')}, "
    "'aliases', "
    + _array(
        "SELECT json_agg(json_build_object('algorithm', x.algorithm, 'digest', x.digest) "
        'ORDER BY x.algorithm COLLATE "C", x.digest COLLATE "C") '
        "FROM artifact_aliases x WHERE x.artifact_hash = a.hash"
    )
    + ", 'members', "
    + _array(
        "SELECT json_agg(json_build_object('path', c.path, 'hash', c.member_hash, "
        "'size', c.size) ORDER BY c.path COLLATE \"C\") "
        "FROM composite_members c WHERE c.composite_hash = a.hash"
    )
    + f", 'produced_by', {_distinct_sorted('e.job_hash', _edges_seen('write'))}"
    + f", 'consumed_by', {_distinct_sorted('e.job_hash', _edges_seen('read'))}"
    + f", 'paths', {_distinct_sorted('e.path', _edges_seen())}"
    + ", 'sessions', "
    + _distinct_sorted(
        "sj.session_hash",
        "FROM edges e JOIN session_jobs sj ON sj.job_hash = e.job_hash "
        f"WHERE e.artifact_hash = a.hash AND {_visible('sj.session_hash')}",
    )
    + f", 'labels', {_labels('artifact', 'a.hash')})::text "
    f"FROM artifacts a {_first_grant('a.hash', 'att')} WHERE a.hash = %(h)s"
)

_JOB_SESSIONS = _array(
    'SELECT json_agg(sj.session_hash ORDER BY sj.session_hash COLLATE "C") FROM session_jobs sj '
    f"WHERE sj.job_hash = j.job_hash AND {_visible('sj.session_hash')}"
)
JOB = (
    "SELECT "
    + _job("j", "att", f", 'sessions', {_JOB_SESSIONS}, 'labels', {_labels('job', 'j.job_hash')}")
    + f"::text FROM jobs j {_first_grant('j.job_hash', 'att')} WHERE j.job_hash = %(h)s"
)

_SESSION_JOBS = _array(
    f"SELECT json_agg({_job('j', 'ja')} ORDER BY COALESCE(j.started_at, '') COLLATE \"C\", "
    'COALESCE(j.step_number, 0), j.job_hash COLLATE "C") '
    "FROM session_jobs sj JOIN jobs j ON j.job_hash = sj.job_hash "
    f"{_first_grant('j.job_hash', 'ja')} WHERE sj.session_hash = s.session_hash"
)
SESSION = (
    "SELECT json_build_object('session_hash', s.session_hash, "
    "'git', json_build_object('remote', s.git_remote, 'commit', s.git_commit), "
    f"{_attributed('s', 'att')}, 'jobs', {_SESSION_JOBS}, "
    f"'labels', {_labels('session', 's.session_hash')})::text "
    f"FROM sessions s {_first_grant('s.session_hash', 'att')} WHERE s.session_hash = %(h)s"
)

STATEMENTS = {"artifact": ARTIFACT, "job": JOB, "session": SESSION}

# The same, for a whole hash the viewer gave, with the key's checks folded in (one statement
# instead of two): the record is visible, and nothing else answers to the text, which the key
# statements would have found first (an alias digest) or as well (a job uid). No row: the
# lookup resolves the key on its own (an alias, not found, ambiguous) and reads again.
_ALIAS_TAKES_IT = (
    "NOT EXISTS (SELECT 1 FROM artifact_aliases x WHERE x.digest = %(h)s AND "
    + _visible("x.artifact_hash")
    + ")"
)
_UID_TOO = (
    "NOT EXISTS (SELECT 1 FROM jobs u WHERE u.uid = %(h)s AND u.job_hash <> %(h)s AND "
    + _visible("u.job_hash")
    + ")"
)
BY_WHOLE_HASH = {
    "artifact": f"{ARTIFACT} AND {_visible('a.hash')} AND {_ALIAS_TAKES_IT}",
    "job": f"{JOB} AND {_visible('j.job_hash')} AND {_UID_TOO}",
    "session": f"{SESSION} AND {_visible('s.session_hash')}",
}


def document(driver: Any, kind: str, h: str, scopes: Sequence[str]) -> str:
    """The JSON text of the ``kind`` document of ``h`` (which exists: the key was resolved in
    the viewer's scopes), on the psycopg connection ``driver``."""
    found = _run(driver, STATEMENTS[kind], h, scopes)
    if found is None:  # rows are never deleted; a database edited by hand is all that is left
        raise NotFound(f"no {kind} in this registry matches {h!r}")
    return found


def document_by_whole_hash(driver: Any, kind: str, h: str, scopes: Sequence[str]) -> str | None:
    """The JSON text of the ``kind`` document whose hash is ``h``, if the viewer sees it and
    no alias digest or job uid is ``h`` as well; else None (resolve the key first)."""
    return _run(driver, BY_WHOLE_HASH[kind], h, scopes)


def _run(driver: Any, sql: str, h: str, scopes: Sequence[str]) -> str | None:
    cursor = driver.cursor()
    try:
        cursor.execute(sql, {"h": h, "scopes": list(scopes)}, prepare=True)
        row = cursor.fetchone()
        return None if row is None else row[0]  # type: ignore[no-any-return]
    finally:
        cursor.close()
