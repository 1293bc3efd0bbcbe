"""The lookups on PostgreSQL, each one statement: the key and the document it picks, which
PostgreSQL builds itself as JSON text.

On PostgreSQL a statement costs the server process ~0.1-0.2 ms of CPU whatever it reads (the
driver's Python, the round trip), so a lookup of five statements plus building the document in
Python cost ~1.5 ms of CPU; 50 closed-loop clients queued behind it (issue 17). Here one
statement finds the hashes the text names (``hits``), picks the one it means (``pick``) and
assembles its whole document (json_build_object, json_agg); the server sends that text as it
comes, nothing decoded or encoded in Python. When nothing is picked, the hits say why (not
found, or which candidates).

The documents are the ones glaas.service.lookup builds from rows on SQLite, key for key and
value for value (tests/registry/test_pg_documents.py compares them on a rich lineage): the same
visibility (a grant in the viewer's scopes), the same attribution (the earliest such grant), the
same orders. Text is sorted with COLLATE "C", byte order, which for UTF-8 is Python's code point
order. One difference only in the spelling: a float with no fraction is written as PostgreSQL
writes it (``1``, not ``1.0``); JSON readers take both as the same number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NoReturn

from glaas.service import BadPrefix, NotFound
from glaas.service.keys import CANDIDATES, check_prefix, unique

SCOPES = "ANY(%(scopes)s::text[])"


def _visible(target: str) -> str:
    """visibility.visible: ``target`` has a grant in the viewer's scopes."""
    return f"EXISTS (SELECT 1 FROM grants g WHERE g.target_hash = {target} AND g.scope = {SCOPES})"


def _first_grant(target: str, alias: str, join: str = "LEFT JOIN") -> str:
    """visibility.attribution: the earliest grant of ``target`` the viewer sees, as ``alias``
    (``join``: JOIN leaves out a row without one)."""
    return (
        f"{join} LATERAL (SELECT g.registered_by, g.registered_at FROM grants g "
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


def _own(row: str) -> str:
    """registered_at and registered_by as the row has them (the first registration's)."""
    return f"'registered_at', {row}.registered_at, 'registered_by', {row}.registered_by"


def _job(j: str, attribution: str, more: str = "") -> str:
    """lookup._job_document of the jobs row ``j``, with ``attribution`` (_attributed, _own),
    plus ``more``."""
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
        f"'deleted', {j}.deleted, 'cell', {j}.cell, {attribution}{more})"
    )


def _distinct_sorted(column: str, select_from: str) -> str:
    return _array(
        f'SELECT json_agg(v.x ORDER BY v.x COLLATE "C") FROM (SELECT DISTINCT {column} AS x '
        f"{select_from}) v"
    )


def _seen_sorted(column: str, role: str | None = None) -> str:
    """The distinct values of ``column`` over the artifact's edges whose job the viewer sees
    (of one ``role``) as a sorted JSON array: an aggregate of _EDGES_SEEN."""
    which = f" FILTER (WHERE e.role = '{role}')" if role else ""
    return (
        f'COALESCE(json_agg(DISTINCT {column} COLLATE "C" ORDER BY {column} COLLATE "C")'
        f"{which}, '[]'::json)"
    )


# The artifact's edges whose job the viewer sees, read once for its three lists (three
# subqueries of their own cost PostgreSQL ~10 % more of its CPU a lookup).
_EDGES_SEEN = (
    f"CROSS JOIN LATERAL (SELECT {_seen_sorted('e.job_hash', 'write')} AS produced_by, "
    f"{_seen_sorted('e.job_hash', 'read')} AS consumed_by, {_seen_sorted('e.path')} AS paths "
    f"FROM edges e WHERE e.artifact_hash = a.hash AND {_visible('e.job_hash')}) seen"
)

# The hash the lookup's key picked (its statement's ``pick``), which each document is of.
PICKED = "(SELECT h FROM pick)"

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
    + ", 'produced_by', seen.produced_by, 'consumed_by', seen.consumed_by, "
    "'paths', seen.paths, 'sessions', "
    + _distinct_sorted(
        "sj.session_hash",
        "FROM edges e JOIN session_jobs sj ON sj.job_hash = e.job_hash "
        f"WHERE e.artifact_hash = a.hash AND {_visible('sj.session_hash')}",
    )
    + f", 'labels', {_labels('artifact', 'a.hash')})::text "
    f"FROM artifacts a {_first_grant('a.hash', 'att')} {_EDGES_SEEN} WHERE a.hash = {PICKED}"
)

_JOB_SESSIONS = _array(
    'SELECT json_agg(sj.session_hash ORDER BY sj.session_hash COLLATE "C") FROM session_jobs sj '
    f"WHERE sj.job_hash = j.job_hash AND {_visible('sj.session_hash')}"
)
JOB = (
    "SELECT "
    + _job(
        "j",
        _attributed("j", "att"),
        f", 'sessions', {_JOB_SESSIONS}, 'labels', {_labels('job', 'j.job_hash')}",
    )
    + f"::text FROM jobs j {_first_grant('j.job_hash', 'att')} WHERE j.job_hash = {PICKED}"
)

_SESSION_ORDER = (
    'COALESCE(j.started_at, \'\') COLLATE "C", COALESCE(j.step_number, 0), j.job_hash COLLATE "C"'
)
_SESSION_JOBS = _array(
    f"SELECT json_agg({_job('j', _attributed('j', 'ja'))} ORDER BY {_SESSION_ORDER}) "
    "FROM session_jobs sj JOIN jobs j ON j.job_hash = sj.job_hash "
    f"{_first_grant('j.job_hash', 'ja')} WHERE sj.session_hash = s.session_hash"
)
SESSION = (
    "SELECT json_build_object('session_hash', s.session_hash, "
    "'git', json_build_object('remote', s.git_remote, 'commit', s.git_commit), "
    f"{_attributed('s', 'att')}, 'jobs', {_SESSION_JOBS}, "
    f"'labels', {_labels('session', 's.session_hash')})::text "
    f"FROM sessions s {_first_grant('s.session_hash', 'att')} WHERE s.session_hash = {PICKED}"
)

# A session's document in parts, for a server that keeps what never changes (doc_cache): what
# the viewer's scopes decide (who registered the session and each job first, as the viewer
# sees it; its labels), and, the first time (SESSION_PARTS_COLD), what is the same for everyone
# (the session's row and its jobs' documents as their rows have them), which the server then
# keeps. Two statements, not one with the shared part under a condition: PostgreSQL sets up
# every part of a plan, run or not (~13 % of its CPU on a kept session's lookup).
_SESSION_GRANTS = (
    "SELECT json_object_agg(sj.job_hash, json_build_array(ja.registered_by, ja.registered_at)) "
    f"FROM session_jobs sj {_first_grant('sj.job_hash', 'ja', 'JOIN')} "
    "WHERE sj.session_hash = s.session_hash"
)
_SESSION_SHARED = (
    "json_build_object('session', json_build_object('session_hash', s.session_hash, "
    "'git_remote', s.git_remote, 'git_commit', s.git_commit, "
    "'registered_at', s.registered_at, 'registered_by', s.registered_by), 'jobs', "
    + _array(
        f"SELECT json_agg({_job('j', _own('j'))} ORDER BY {_SESSION_ORDER}) "
        "FROM session_jobs sj JOIN jobs j ON j.job_hash = sj.job_hash "
        "WHERE sj.session_hash = s.session_hash"
    )
    + ")"
)


def _session_parts(shared: str = "") -> str:
    return (
        "SELECT json_build_object('registered_by', att.registered_by, "
        "'registered_at', att.registered_at, "
        f"'grants', COALESCE(({_SESSION_GRANTS}), '{{}}'::json), "
        f"'labels', {_labels('session', 's.session_hash')}{shared})::text "
        f"FROM sessions s {_first_grant('s.session_hash', 'att')} WHERE s.session_hash = {PICKED}"
    )


SESSION_PARTS = _session_parts()
SESSION_PARTS_COLD = _session_parts(f", 'shared', {_SESSION_SHARED}")

DOCUMENTS = {"artifact": ARTIFACT, "job": JOB, "session": SESSION}

# ---------------------------------------------------------------- keys
# lookup's key statements (artifact_hash, job_hash, session_hash) as a lookup's first part: the
# hashes the text names that the viewer sees (``hits``), at most CANDIDATES of each kind, and
# the one it picks (``pick``): an alias digest's artifact, which wins, or the only hit.
# %(t)s is the text as given (an alias digest is matched whole, in its case), %(p)s the
# same lower-cased when it is a hash or a prefix (check_prefix), else NULL.


def _starts(column: str) -> str:
    """lookup._starts: ``column`` starts with the prefix, as a range the index answers (LIKE
    alone is a scan outside the C collation)."""
    return (
        f"{column} >= %(p)s::text AND {column} < %(p)s::text || 'g' "
        f"AND {column} LIKE %(p)s::text || '%%'"
    )


def _hits(select: str) -> str:
    return f"({select} LIMIT {CANDIDATES})"


_ALIAS = (
    "SELECT x.artifact_hash AS h FROM artifact_aliases x WHERE x.digest = %(t)s::text AND "
    + _visible("x.artifact_hash")
    + " LIMIT 1"
)
HITS = {
    "artifact": _hits(
        f"SELECT a.hash AS h FROM artifacts a WHERE {_starts('a.hash')} AND {_visible('a.hash')}"
    ),
    # By hash and by client uid, each on its own index (an OR of the two is a scan); a uid
    # may be a prefix of its own job's hash, so a job can be hit twice.
    "job": _hits(
        f"SELECT j.job_hash AS h FROM jobs j WHERE {_starts('j.job_hash')} "
        f"AND {_visible('j.job_hash')}"
    )
    + " UNION ALL "
    + _hits(
        f"SELECT j.job_hash AS h FROM jobs j WHERE j.uid = %(p)s::text AND {_visible('j.job_hash')}"
    ),
    "session": _hits(
        f"SELECT s.session_hash AS h FROM sessions s WHERE {_starts('s.session_hash')} "
        f"AND {_visible('s.session_hash')}"
    ),
}
_ONLY_HIT = "(SELECT min(h) FROM hits HAVING count(DISTINCT h) = 1)"
_PICK = {
    "artifact": f"COALESCE(({_ALIAS}), {_ONLY_HIT})",
    "job": _ONLY_HIT,
    "session": _ONLY_HIT,
}


def _lookup(kind: str, document: str) -> str:
    """The whole lookup in one statement: (the ``kind`` record's ``document`` as JSON text, or
    NULL when the text picks nothing; then the hits as a JSON array, to say why)."""
    return (
        f"WITH hits AS ({HITS[kind]}), pick AS (SELECT {_PICK[kind]} AS h) "
        f"SELECT ({document}), "
        "CASE WHEN (SELECT h FROM pick) IS NULL THEN (SELECT json_agg(h) FROM hits)::text END"
    )


LOOKUPS = {kind: _lookup(kind, document) for kind, document in DOCUMENTS.items()}
SESSION_PARTS_LOOKUP = _lookup("session", SESSION_PARTS)
SESSION_PARTS_COLD_LOOKUP = _lookup("session", SESSION_PARTS_COLD)


def batched(lookup: str) -> str:
    """The ``lookup`` statement for many texts at once: one row per element of %(ts)s (the
    texts as given) and %(ps)s (the same as parameters() makes each one's ``p``), in their
    order, each the lookup's own (document, hits). PostgreSQL's cost of a statement is mostly
    setting its plan up (a dozen subplans), done once here for all the texts: a batch of 10
    costs it half as much CPU a lookup as 10 statements."""
    each = lookup.replace("%(t)s", "k.t").replace("%(p)s", "k.p")
    return (
        "SELECT b.* FROM unnest(%(ts)s::text[], %(ps)s::text[]) WITH ORDINALITY AS k(t, p, i) "
        f"CROSS JOIN LATERAL ({each}) b ORDER BY k.i"
    )


def parameters(text: str, scopes: Sequence[str]) -> dict[str, Any]:
    """A lookup statement's parameters for the text the viewer gave."""
    try:
        p: str | None = check_prefix(text)
    except BadPrefix:
        p = None
    return {"t": text, "p": p, "scopes": list(scopes)}


def explain(kind: str, text: str, hits: str | None) -> NoReturn:
    """The error of a lookup statement that picked nothing, as its hits (a JSON array, or
    NULL) tell it: not a hash (BadPrefix), no such record (NotFound) or several (Ambiguous)."""
    check_prefix(text)  # not a hash, and no alias digest either: BadPrefix
    found = json.loads(hits) if hits else []
    unique(kind, text, list(dict.fromkeys(found))[:CANDIDATES])
    raise NotFound(f"no {kind} in this registry matches {text!r}")  # a row deleted by hand


def find(driver: Any, kind: str, text: str, scopes: Sequence[str]) -> str:
    """The JSON text of the ``kind`` document ``text`` names for a viewer of ``scopes``, on the
    psycopg connection ``driver``: one statement."""
    cursor = driver.cursor()
    try:
        cursor.execute(LOOKUPS[kind], parameters(text, scopes), prepare=True)
        doc, hits = cursor.fetchone()
    finally:
        cursor.close()
    if doc is None:
        explain(kind, text, hits)
    return doc  # type: ignore[no-any-return]
