"""What the user named: ``@N``/``@BN`` steps, job uids and sessions, resolved in the store.

Light on purpose (no DAG, no dataclasses): ``roar inputs``, ``reproduce`` and ``make`` resolve
their targets here on a 100,000-job store within their time budget. Each lookup is one indexed
read (``Reader.step_job``, uid and digest prefixes as index ranges).
"""

from __future__ import annotations

import re

from roar.errors import RoarError
from roar.store.views import JobView, SessionView

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.store.queries import Reader

STEP_REF = re.compile(r"^@(B?)(\d+)$", re.IGNORECASE)
HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_HASH_PREFIX = 8


REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "http://", "https://")


def remote_ref(ref: str) -> str | None:
    """A remote object's URL (``s3://bucket/key``, ``gs://…``, ``https://…``) as `roar get` and
    `roar put` record it — a prefix without its trailing ``/`` — or None for anything else."""
    if not ref.startswith(REMOTE_SCHEMES):
        return None
    from roar.transfer.urls import recordable

    return recordable(ref).rstrip("/")


def require_active_session(reader: Reader) -> SessionView:
    session = reader.active_session()
    if session is None:
        raise RoarError("No active session.", hint="Record a job first: roar run <command>.")
    return session


def resolve_session(reader: Reader, ref: str) -> SessionView:
    """`current`, a session's number (as `roar session list` shows it) or a uid prefix."""
    sessions = reader.sessions()
    if ref in ("current", "session:current"):
        return require_active_session(reader)
    ref = ref.removeprefix("session:")
    if ref.isdigit() and len(ref) < 8:
        hits = [s for s in sessions if s.id == int(ref)]
    else:
        hits = [s for s in sessions if s.uid.startswith(ref.lower())] if len(ref) >= 4 else []
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise RoarError(f"Session prefix '{ref}' is ambiguous.", hint="Give more characters.")
    raise RoarError(
        f"No session found for: {ref}",
        hint="`roar session list` shows every session with its number and hash.",
    )


def resolve_step(reader: Reader, ref: str) -> JobView:
    """`@N` or `@BN` → the latest job of that step in the active session."""
    m = STEP_REF.match(ref)
    if not m:
        raise RoarError(f"Invalid DAG reference '{ref}'. Use @N or @BN where N is a number.")
    session = reader.active_session()
    if session is None:
        raise RoarError("No active DAG.", hint="Record a job first: roar run <command>.")
    # build steps are numbered apart from the others
    job = reader.step_job(session.id, int(m.group(2)), build=bool(m.group(1)))
    if job is None:
        raise RoarError(f"No node {ref.upper()} in DAG.", hint="'roar dag' lists the steps.")
    return job


def resolve_job(reader: Reader, ref: str) -> JobView | None:
    if ref.startswith("@"):
        return resolve_step(reader, ref)
    if HEX.match(ref) and len(ref) >= 4:
        jobs = reader.jobs_by_uid_prefix(ref)
        if len(jobs) == 1:
            return jobs[0]
        if len(jobs) > 1:
            raise RoarError(
                f"Job reference '{ref}' is ambiguous ({len(jobs)} jobs match).",
                hint="Give more characters.",
            )
    return None
