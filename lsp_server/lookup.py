"""One artifact's provenance, assembled from the store's read-only queries: what an editor
shows on hover, in a code lens, a diagnostic, or when it jumps to the producing code."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lsp_server.freshness import CURRENT, MODIFIED, STALE, DiskDigests, changed_upstream
from roar.store import labels as store_labels
from roar.store import provenance as prov
from roar.store.views import ArtifactView, FileView

CONSUMERS_SHOWN = 5  # the hover lists the newest ones; "… N more" stands for the rest
SUPERSEDED = "superseded"  # a consumer whose step ran again after it (a previous run)
_RUNNERS = re.compile(r"^(python[\d.]*|pypy[\d.]*|bash|sh|zsh|dash|Rscript|node|julia|perl|ruby)$")
_WRAPPERS = {"uv", "poetry", "pipenv", "conda", "run", "exec", "env", "time", "nice"}


@dataclass
class Provenance:
    path: str | None  # the recorded absolute path (None: named by hash and never seen at one)
    artifact: ArtifactView
    producer: prov.JobRef | None
    inputs: list[FileView] = field(default_factory=list)
    consumers: list[prov.JobRef] = field(default_factory=list)
    consumer_count: int = 0
    freshness: str = CURRENT
    changed: list[tuple[str, str]] = field(default_factory=list)  # upstream (path, how)
    # consumers shown that are not current: job id → SUPERSEDED (their step ran again since)
    # or STALE (what they read changed since they ran: this file, its upstream, or another of
    # their inputs; checked for a path only, as its own freshness is)
    consumer_states: dict[int, str] = field(default_factory=dict)
    labels: dict = field(default_factory=dict)  # the content's `roar label` document
    producer_labels: dict = field(default_factory=dict)  # the producing job's


def for_path(conn: prov.Connection, path: str, disk: DiskDigests) -> Provenance | None:
    record = prov.latest_record(conn, path)
    if record is None:
        return None
    art = record.artifact
    producer = prov.producer(conn, art.id, path=path) or prov.producer(conn, art.id)
    result = _assemble(conn, path, art, producer)
    result.freshness = disk.state(conn, path, art.digest, art.size, art.algorithm, art.is_composite)
    if result.freshness == CURRENT and producer is not None:
        upstream = changed_upstream(conn, producer, disk, art.algorithm)
        if upstream.changed:
            result.freshness, result.changed = STALE, upstream.changed
    for job in result.consumers:
        if job.id not in result.consumer_states and (
            result.freshness in (STALE, MODIFIED) or _other_input_changed(conn, job, art, disk)
        ):
            result.consumer_states[job.id] = STALE
    return result


def for_hash(conn: prov.Connection, prefix: str) -> Provenance | None:
    """The artifact a hash (prefix) names, when exactly one does. No disk check: a hash names
    bytes, not a file."""
    hits = prov.artifacts_by_prefix(conn, prefix, limit=2)
    if len(hits) != 1:
        return None
    art = hits[0]
    producer = prov.producer(conn, art.id)
    return _assemble(conn, art.first_seen_path, art, producer)


def _assemble(
    conn: prov.Connection, path: str | None, art: ArtifactView, producer: prov.JobRef | None
) -> Provenance:
    consumers, count = prov.consumers(conn, art.id, CONSUMERS_SHOWN)
    inputs = prov.job_files(conn, producer.id, "input") if producer else []
    result = Provenance(path, art, producer, inputs, consumers, count)
    result.consumer_states = {j.id: SUPERSEDED for j in consumers if _ran_again(conn, j)}
    result.labels = store_labels.documents(conn, "artifact", [art.digest]).get(art.digest, {})
    if producer is not None:
        docs = store_labels.documents(conn, "job", [producer.uid])
        result.producer_labels = docs.get(producer.uid, {})
    return result


def _other_input_changed(
    conn: prov.Connection, job: prov.JobRef, read: ArtifactView, disk: DiskDigests
) -> bool:
    """Did another input of this consumer change since it ran (a newer record at its path with
    other bytes, or other bytes on disk)? What the hovered file's own state says about it is
    known already; the other inputs' upstream is not walked here (a hover has a budget: one walk
    per hover), so a deeper change shows in Show lineage and ``roar status``, not here."""
    for f in prov.job_files(conn, job.id, "input"):
        if f.artifact_id == read.id:
            continue
        latest = prov.latest_record(conn, f.path)
        if latest is not None and latest.job_id > job.id and latest.artifact.digest != f.digest:
            return True
        if disk.state(conn, f.path, f.digest, f.size, read.algorithm, f.is_composite) == MODIFIED:
            return True
    return False


def _ran_again(conn: prov.Connection, job: prov.JobRef) -> bool:
    """Was the job's step run again after it (a later job of its session with its number; build
    steps are numbered apart, @B1 is not @1)?"""
    row = conn.execute(
        "SELECT 1 FROM jobs WHERE session_id = ? AND step_number = ? AND id > ? "
        "AND (kind = 'build') = ? LIMIT 1",
        (job.session_id, job.step_number, job.id, job.kind == "build"),
    ).fetchone()
    return row is not None


def script_of(job: prov.JobRef) -> str | None:
    """The program a run job ran, as written on its command line: ``python -u train.py`` →
    ``train.py``; ``python -m pkg.mod`` → ``pkg.mod``; ``./prep.sh`` → ``./prep.sh``."""
    args = list(job.argv)
    while args:
        word = args.pop(0)
        name = os.path.basename(word)
        if word == "-m" and args:
            return args[0]
        if word == "-c":
            return None
        if name in _WRAPPERS or _RUNNERS.match(name) or word.startswith("-"):
            continue
        return word
    return None


def script_path(root: Path, job: prov.JobRef) -> str | None:
    """The producing script's file on disk, if it is one."""
    script = script_of(job)
    if not script:
        return None
    path = os.path.normpath(os.path.join(prov.absolute_cwd(root, job), script))
    return path if os.path.isfile(path) else None


def notebook_file(root: Path, job: prov.JobRef) -> str | None:
    if not job.notebook_path:
        return None
    path = os.path.normpath(os.path.join(str(root), job.notebook_path))
    return path if os.path.isfile(path) else None


def cell_line_in_file(notebook: str, job: prov.JobRef) -> int:
    """The line of a cell in the .ipynb file (its ``"id"``, else its first source line), or 0."""
    try:
        text = Path(notebook).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    needles = [f'"id": {json.dumps(job.cell_id)}'] if job.cell_id else []
    first = (job.source or "").strip().splitlines()[:1]
    needles += [json.dumps(first[0])[:-1]] if first else []
    for needle in needles:
        at = text.find(needle)
        if at >= 0:
            return text.count("\n", 0, at)
    return 0
