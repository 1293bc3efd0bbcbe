"""``roar make TARGET``: rerun exactly the stale steps upstream of a target, in order.

``make`` with no Makefile: the rules are the recorded lineage. From the step that wrote the
target, the walk goes upstream through the producers of what each step's latest run read (the
DAG's edges, ``roar.query.lineage``), asking the store one indexed question at a time
(``roar.store.upstream``), so its cost follows the target's lineage, never the session's size.

A step is stale when, since its latest run,
  * an input was rewritten: a later job of another step wrote other bytes at its path
    (a rerun of its producer, say), or
  * an input changed on disk outside roar (``roar.query.disk``; a file the step also wrote, or
    one that is gone, does not count, as in the DAG), or
  * that run failed, or
  * a step it depends on is stale (it will be rerun first);
and the target's own step is stale when the target is missing or was changed on disk. A stale
step that needs a file which is missing gets it back by rerunning the step that made it.
Everything else upstream is current and is not rerun. Notebook cells are followed through the
files they read (not their variables), and a stale cell stops the plan: it reruns in its
notebook, not through ``roar run``.

Running the plan (``execute``) reruns one step at a time through ``roar run @N`` (so each rerun
is recorded as a rerun of its step, in the directory it ran in) and plans again after each: a
rerun that wrote other bytes than before makes the steps reading them stale, and they follow.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from roar.errors import RoarError
from roar.query.disk import MISSING, MODIFIED, DiskCheck
from roar.records import field, record
from roar.store import provenance, upstream
from roar.store.connection import Connection
from roar.store.upstream import StepRun
from roar.store.views import FileView

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.query.lineage import Dag

STEP_REF = re.compile(r"^@(B?)(\d+)$", re.IGNORECASE)
HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_HASH_PREFIX = 8

# Why a step is stale (``Reason.kind``).
REWRITTEN = "rewritten"  # an input's path holds other bytes a later step wrote (``step``)
CHANGED = "changed on disk"  # an input was edited outside roar
FAILED = "failed"  # its latest run failed
UPSTREAM = "upstream"  # a step it depends on (``step``) is rerun first
TARGET_MISSING = "target missing"
TARGET_CHANGED = "target changed on disk"
NEEDED = "needed"  # it made ``path``, which is missing and step ``step`` needs


@record(frozen=True)
class Reason:
    kind: str
    path: str | None = None
    step: int | None = None
    exit_code: int | None = None


@record
class PlannedStep:
    run: StepRun  # the step's latest run: what is rerun
    reasons: list[Reason] = field(default_factory=list)
    dependencies: list[int] = field(default_factory=list)  # step numbers upstream


@record
class Target:
    name: str  # as the user gave it
    step: StepRun | None  # the step that makes it; None: a source input of the session
    files: list[FileView] = field(default_factory=list)  # its recorded outputs that are the target


@record
class Plan:
    target: Target
    steps: list[PlannedStep]  # the stale ones, dependencies first
    considered: int = 0  # steps looked at upstream of the target (itself included)
    # Why the plan cannot run: a stale notebook cell (rerun in its notebook), a missing file
    # that no recorded step makes.
    blockers: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.steps


@record
class _Node:
    run: StepRun
    inputs: list[FileView]
    deps: set[int] = field(default_factory=set)
    made_by: dict[str, int] = field(default_factory=dict)  # input path → step that wrote it
    reasons: list[Reason] = field(default_factory=list)
    on_disk: list[FileView] = field(default_factory=list)  # inputs to compare with the disk
    missing: list[FileView] = field(default_factory=list)


def disk_check(conn: Connection) -> DiskCheck:
    """Compares recorded files with the disk through the store's hash cache, read only."""
    return DiskCheck(partial(provenance.cached_digests, conn))


def session_of(conn: Connection) -> int:
    session_id = upstream.active_session_id(conn)
    if session_id is None:
        raise RoarError("No active session.", hint="Record a job first: roar run <command>.")
    return session_id


def resolve_target(conn: Connection, session_id: int, ref: str) -> Target:
    """``@N``, a path (the step of the session that last wrote it) or a hash prefix (≥ 8 hex:
    the step that last wrote those bytes)."""
    m = STEP_REF.match(ref)
    if m:
        if m.group(1):
            raise RoarError(
                f"{ref.upper()} is a build step: roar make reruns pipeline steps.",
                hint=f"Rerun a build step with roar run {ref.upper()}.",
            )
        run = upstream.latest_run(conn, session_id, int(m.group(2)))
        if run is None:
            raise RoarError(f"No node {ref.upper()} in DAG.", hint="'roar dag' lists the steps.")
        return Target(ref, run, provenance.job_files(conn, run.id, "output"))
    if os.path.exists(ref) or "/" in ref or ref.startswith((".", "~")) or not HEX.match(ref):
        return _path_target(conn, session_id, ref)
    if len(ref) < MIN_HASH_PREFIX:
        raise RoarError(
            f"Hash prefix must be at least {MIN_HASH_PREFIX} characters for uniqueness."
        )
    ids = [a.id for a in provenance.artifacts_by_prefix(conn, ref)]
    if len(ids) > 1:
        raise RoarError(f"Hash prefix '{ref}' is ambiguous.", hint="Give more characters.")
    if not ids:
        raise RoarError(
            f"Artifact not found in database: {ref}",
            hint="The file may not have been tracked by roar yet.",
        )
    write = upstream.newest_write_of(conn, session_id, ids[0])
    run = upstream.latest_run(conn, session_id, write.step_number) if write else None
    if run is None:
        return Target(ref, None)
    outputs = provenance.job_files(conn, run.id, "output")
    return Target(ref, run, [f for f in outputs if f.artifact_id == ids[0]])


def _path_target(conn: Connection, session_id: int, ref: str) -> Target:
    path = os.path.abspath(os.path.expanduser(ref))
    names = list(dict.fromkeys([path, os.path.realpath(path)]))
    for name in names:
        write = upstream.newest_write(conn, session_id, name)
        run = upstream.latest_run(conn, session_id, write.step_number) if write else None
        if run is not None:
            outputs = provenance.job_files(conn, run.id, "output")
            return Target(ref, run, [f for f in outputs if f.path == name])
    if upstream.path_recorded(conn, names):
        return Target(ref, None)
    from roar.query.history import no_artifact_at

    raise no_artifact_at(ref)


def plan(conn: Connection, session_id: int, target: Target, disk: DiskCheck) -> Plan:
    """The stale steps upstream of ``target`` (itself included), dependencies first."""
    if target.step is None:
        return Plan(target, [])
    nodes, order = _walk(conn, session_id, target.step.step_number)
    _compare_with_disk(nodes, target, disk)
    stale: dict[int, list[Reason]] = {}
    for step in order:  # dependencies first: a step after every step it depends on
        node = nodes[step]
        reasons = list(node.reasons)
        reasons += [Reason(UPSTREAM, step=d) for d in sorted(node.deps) if d in stale]
        if reasons:
            stale[step] = reasons
    blockers: list[str] = []
    for step in reversed(order):  # downstream first: a file a rerun needs is made again
        if step not in stale:
            continue
        for f in nodes[step].missing:
            maker = nodes[step].made_by.get(f.path)
            if maker is None or maker not in nodes:
                blockers.append(
                    f"@{step} needs {f.path}, which is missing and no recorded step of this "
                    "session makes it"
                )
            elif maker not in stale:  # made again; its other readers follow if it differs
                stale[maker] = [Reason(NEEDED, f.path, step)]
    steps = [
        PlannedStep(nodes[s].run, stale[s], sorted(d for d in nodes[s].deps if d in nodes))
        for s in order
        if s in stale
    ]
    for p in steps:
        if p.run.kind == "cell":
            where = p.run.notebook_path or "its notebook"
            blockers.append(f"{p.run.ref} is a notebook cell: rerun it in {where}")
    return Plan(target, steps, len(nodes), blockers)


def _walk(conn: Connection, session_id: int, start: int) -> tuple[dict[int, _Node], list[int]]:
    """The steps upstream of ``start`` (itself included), in dependency order (post-order of a
    depth-first walk; an edge back to a step being walked, a cycle, is left out)."""
    nodes: dict[int, _Node] = {}
    order: list[int] = []
    stack: list[tuple[int, bool]] = [(start, False)]
    while stack:
        step, done = stack.pop()
        if done:
            order.append(step)
            continue
        if step in nodes:
            continue
        run = upstream.latest_run(conn, session_id, step)
        if run is None:
            continue
        node = nodes[step] = _Node(run, provenance.job_files(conn, run.id, "input"))
        _read_inputs(conn, session_id, node)
        stack.append((step, True))
        stack.extend((d, False) for d in sorted(node.deps, reverse=True) if d not in nodes)
    return nodes, order


def _read_inputs(conn: Connection, session_id: int, node: _Node) -> None:
    run = node.run
    if run.exit_code != 0:
        node.reasons.append(Reason(FAILED, exit_code=run.exit_code))
    written = {f.path for f in provenance.job_files(conn, run.id, "output")}
    for f in node.inputs:
        producer = upstream.producer_step(conn, session_id, f.artifact_id, run)
        if producer is not None:
            node.deps.add(producer)
            node.made_by[f.path] = producer
        newer = upstream.newest_write(conn, session_id, f.path, other_than_step=run.step_number)
        if newer and newer.started_at > run.started_at and newer.digest != f.digest:
            node.reasons.append(Reason(REWRITTEN, f.path, newer.step_number))
            node.deps.add(newer.step_number)  # its rerun reads what that step wrote
            node.made_by[f.path] = newer.step_number
        elif f.path not in written:
            node.on_disk.append(f)


def _compare_with_disk(nodes: dict[int, _Node], target: Target, disk: DiskCheck) -> None:
    """One batched disk check for every input the walk kept, and the target's own files."""
    files = [f for n in nodes.values() for f in n.on_disk] + target.files
    states = disk.states((f.path, f.digest, f.size, f.algorithm, f.is_composite) for f in files)
    for node in nodes.values():
        for f in node.on_disk:
            state = states.get((f.path, f.digest))
            if state == MODIFIED:
                node.reasons.append(Reason(CHANGED, f.path))
            elif state == MISSING:
                node.missing.append(f)
    if target.step is not None and target.step.step_number in nodes:
        node = nodes[target.step.step_number]
        for f in target.files:
            state = states.get((f.path, f.digest))
            if state in (MISSING, MODIFIED):
                kind = TARGET_MISSING if state == MISSING else TARGET_CHANGED
                node.reasons.append(Reason(kind, f.path))


# running ---------------------------------------------------------------------------------------


@record
class Rerun:
    step: PlannedStep
    exit_code: int


def rerun_step(
    root: Path, run: StepRun, *, allow_dirty: bool = False, quiet_stdout: bool = False
) -> int:
    """``roar run -q @N`` in the directory the step ran in: recorded as a rerun of its step.
    Its output streams through (to stderr with ``quiet_stdout``: stdout then carries JSON)."""
    import subprocess  # here: a dry run (the benchmarked path) starts no process

    argv = [sys.executable, "-m", "roar", "run", "-q"]
    if allow_dirty:
        argv.append("--allow-dirty")
    argv.append(run.ref)
    cwd = os.path.join(root, run.cwd) if run.cwd else str(root)
    proc = subprocess.run(argv, cwd=cwd, stdout=sys.stderr if quiet_stdout else None)
    return proc.returncode


def execute(
    conn: Connection,
    session_id: int,
    target: Target,
    disk_for: Callable[[], DiskCheck],
    runner: Callable[[PlannedStep], int],
    on_start: Callable[[PlannedStep, int], None] = lambda step, n: None,
) -> list[Rerun]:
    """Rerun the stale steps one at a time, planning again after each (what a rerun wrote
    decides what is stale next). Stops at the first failure (its exit code is the last
    ``Rerun``'s). A step still stale after its rerun raises, rather than looping."""
    done: list[Rerun] = []
    while True:
        current = plan(conn, session_id, target, disk_for())
        if current.up_to_date:
            return done
        if current.blockers:
            raise RoarError(f"Cannot make {target.name}: {current.blockers[0]}.")
        step = current.steps[0]
        if any(r.step.run.step_number == step.run.step_number for r in done):
            raise RoarError(
                f"{step.run.ref} is still stale after its rerun ({describe(step.reasons[0])}).",
                hint="Its command may no longer read or write what it did: "
                f"roar show {step.run.ref}.",
            )
        on_start(step, len(done) + len(current.steps))
        code = runner(step)
        done.append(Rerun(step, code))
        if code != 0:
            return done
        # a rerun may have moved the target's step (a path is now written by another one)
        if target.step is not None and step.run.step_number == target.step.step_number:
            target = resolve_target(conn, session_id, target.name)


def describe(reason: Reason, shown: Callable[[str], str] = lambda p: p) -> str:
    """A reason in words (``shown`` renders a path for the reader)."""
    path = shown(reason.path) if reason.path else ""
    if reason.kind == REWRITTEN:
        return f"{path} was rewritten by @{reason.step}"
    if reason.kind == CHANGED:
        return f"{path} changed on disk"
    if reason.kind == FAILED:
        code = "unknown" if reason.exit_code is None else reason.exit_code
        return f"its last run failed (exit {code})"
    if reason.kind == UPSTREAM:
        return f"@{reason.step} is rerun first"
    if reason.kind == TARGET_MISSING:
        return f"{path} is missing"
    if reason.kind == TARGET_CHANGED:
        return f"{path} was changed on disk"
    return f"{path} is missing and @{reason.step} needs it"


def stale_final_outputs(dag: Dag) -> list[str]:
    """The paths of a DAG's final outputs made by a stale step: what ``roar make`` brings up to
    date (``roar status`` and ``roar dag`` suggest it). Not a cell's: cells rerun in their
    notebook."""
    kinds = {n.job.step_number: n.job.kind for n in dag.nodes if n.latest and n.job.kind != "build"}
    finals = (
        a.path
        for a in dag.artifacts
        if a.is_terminal and a.state == "stale" and kinds.get(a.producer_step) == "run"
    )
    return list(dict.fromkeys(finals))  # an expanded DAG lists a path once per version
