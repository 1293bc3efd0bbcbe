"""``roar reproduce --run``: replay a plan in a fresh worktree and check what it made.

In order: the plan is checked for steps roar cannot replay (masked secrets in a command, kinds
other than run, build, cell and get; a put is not re-run: its outputs are remote copies) and
for its commits; the user confirms (``-y`` skips it; with no terminal to ask on, nothing
happens without it); a detached ``git worktree`` is made at the
recorded commit; every source input is located (all missing ones are named at once, and then
nothing runs); a virtualenv with the recorded packages is built or reused; the worktree gets
its own store (``roar init``) and the sources; then each step is replayed through ``roar run``
/ ``roar build`` (cells through a fresh roar kernel; a get through ``roar get URL DEST --hash
H``, the recorded object downloaded again and verified) with its recorded argv, cwd and ``roar
env`` variables, so that each replay is itself recorded in the worktree's store. Each step's
outputs are checked as it ends; the verification table ends the run. Exit 0 only when the
target matches; a failing step stops the replay with its exit code.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from roar import config as config_mod
from roar.cli.console import Console
from roar.errors import RoarError
from roar.record import gitinfo
from roar.record.secrets import MASK
from roar.reproduce import environment, placement, verify, worktree
from roar.reproduce.notebook import KernelReplay, dependencies, write_notebook
from roar.reproduce.plan import PlanStep, ReproPlan
from roar.store import replicas
from roar.store.connection import Connection, connect
from roar.store.views import FileView, JobView
from roar.transfer import urls
from roar.workspace import Workspace

REPLAYABLE = ("run", "build", "cell", "get")
NOT_RERUN = ("put",)  # its outputs are remote copies: a replay does not upload them again
LOG_TAIL = 15


@dataclass(frozen=True)
class RunOptions:
    into: str | None = None  # where the worktree goes (default: a new temporary directory)
    assume_yes: bool = False  # -y: no prompts
    package_sync: bool = False  # also the recorded system packages (apt)
    json: bool = False  # the outcome as JSON on stdout instead of the table


@dataclass
class StepOutcome:
    ref: str
    command: str
    exit_code: int | None = None
    duration: float = 0.0
    rows: list[verify.Row] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "step": self.ref,
            "command": self.command,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
        }


def run_plan(ws: Workspace, plan: ReproPlan, options: RunOptions, console: Console) -> int:
    """Replay ``plan`` in a new worktree; the exit status (0: the target matches)."""
    _check_replayable(plan)
    # The worktree starts where the first step ran; a step recorded at a later commit moves it.
    commit = next((s.job.git_commit for s in plan.steps if s.job.git_commit), plan.commit)
    if commit is None:
        raise RoarError(
            "The plan has no recorded git commit to check out.",
            hint="Steps recorded outside a git repository cannot be reproduced in a worktree.",
        )
    worktree.require_commits(
        ws.root, [commit, *[s.job.git_commit for s in plan.steps if s.job.git_commit]],
        plan.repo_remote,
    )  # fmt: skip
    location = worktree.choose_location(ws.root, options.into)
    made_dir = options.into is None
    if not options.assume_yes and not console.confirm_destructive(
        f"Replay {len(plan.steps)} step(s) at commit {commit[:12]} in a new worktree at {location}?"
    ):
        if made_dir:
            shutil.rmtree(location, ignore_errors=True)
        console.err("Nothing done.")
        return 1
    wt = worktree.add(ws.root, location, commit)
    paths = placement.PathMap.of(ws.root, wt)
    user_conn = _user_store(ws)
    try:
        located = placement.locate(plan.sources, paths, user_conn)
    finally:
        if user_conn is not None:
            user_conn.close()
    if located.missing:
        worktree.git(ws.root, "worktree", "remove", "--force", str(wt), check=False)
        raise _missing_error(located.missing)
    return _replay(ws, plan, options, console, wt, paths, located)


def _replay(
    ws: Workspace,
    plan: ReproPlan,
    options: RunOptions,
    console: Console,
    wt: Path,
    paths: placement.PathMap,
    located: placement.Located,
) -> int:
    console.err(f"Worktree: {wt} (at {worktree.head(wt)[:12]}; your checkout is not touched)")
    _init_store(wt)
    logs = wt / ".roar" / "reproduce"
    logs.mkdir(parents=True, exist_ok=True)
    venv = _environment(plan, options, console, wt, logs)
    placement.place(located.copies)
    console.err(f"Sources: {len(located.copies)} placed, {len(located.in_place)} already in place")
    # A source git tracks, placed with other bytes than the commit holds: the steps read it
    # from a modified checkout (recorded dirty), and so does the replay.
    overwritten = sorted(gitinfo.modified_tracked_files(wt))
    for line in overwritten:
        console.err(f"Warning: placed the recorded bytes over a committed file: {line}")
    replayer = Replayer(ws, plan, console, wt, paths, venv, logs)
    replayer.allow_dirty = bool(overwritten)
    try:
        failed = replayer.run_all()
    finally:
        replayer.close()
    rows = replayer.rows()
    first = verify.first_divergence(rows)
    # A session's plan has no one target: every artifact it makes must match.
    whole = plan.target is None and plan.target_job is None
    targets = rows if whole else [r for r in rows if r.is_target]
    matched = bool(targets) and all(r.status == verify.MATCH for r in targets)
    if options.json:
        console.json(
            {
                "worktree": str(wt),
                "venv": str(venv.path),
                "steps": [o.as_json() for o in replayer.outcomes],
                "artifacts": [r.as_json() for r in rows],
                "first_divergence": first,
                "failed_step": failed.ref if failed else None,
                "target_matches": matched,
            }
        )
    else:
        console.out("\n".join(verify.table(rows)))
    _conclude(console, replayer, failed, first, matched, wt, whole)
    if failed is not None:  # its exit status (a signal's as a shell gives it: 128 + N)
        code = failed.exit_code or 1
        return 128 - code if code < 0 else code
    return 0 if matched else 1


def _conclude(
    console: Console,
    replayer: Replayer,
    failed: StepOutcome | None,
    first: str | None,
    matched: bool,
    wt: Path,
    whole: bool,
) -> None:
    if failed is not None:
        console.error(
            f"Step {failed.ref} failed (exit {failed.exit_code}): partial replay, "
            f"the steps after it did not run.",
            hint=f"Its output is in {replayer.log_of(failed.ref)}; the worktree stays at {wt}.",
        )
    elif first is not None:
        step = next(o for o in replayer.outcomes if o.ref == first)
        console.err(
            f"First divergence: {first} ({step.command}): its outputs differ from the recorded "
            "ones."
        )
    what = "every artifact of the session" if whole else "the target"
    if failed is None and matched:
        console.err(f"Reproduced: {what} matches the recorded bytes.")
    elif failed is None:
        console.err(f"Not reproduced: {what} does not match the recorded bytes.")
    console.err(f"The worktree stays at {wt} (remove it with: git worktree remove --force {wt})")


def _check_replayable(plan: ReproPlan) -> None:
    problems = []
    for step in plan.steps:
        job = step.job
        if job.kind in NOT_RERUN:
            continue
        if job.kind not in REPLAYABLE:
            problems.append(f"{job.ref} is a {job.kind} job, which roar cannot replay")
        elif job.kind != "cell" and any(MASK in arg for arg in job.argv):
            problems.append(f"{job.ref} was recorded with secrets masked ({MASK}): {job.command}")
        elif job.kind == "cell" and job.source is None:
            problems.append(f"{job.ref} is a cell recorded without its source")
    if problems:
        raise RoarError(
            "Cannot replay this plan:\n" + "\n".join(f"  {p}" for p in problems),
            hint="Rerun those steps yourself with the real values (pass secrets through "
            "environment variables, which roar masks without changing the command).",
        )


def _user_store(ws: Workspace) -> Connection | None:
    """A read-only connection to the user's store (hash cache, candidate paths), or None."""
    from roar.store.provenance import open_readonly

    try:
        return open_readonly(ws.db_path)
    except RoarError:
        return None


def _missing_error(missing: list[placement.Missing]) -> RoarError:
    lines = [f"  {m.path}  {m.algorithm}:{m.digest}" + ("" if m.why.startswith("no local")
             else f"  ({m.why})") for m in missing]  # fmt: skip
    return RoarError(
        f"{len(missing)} source input(s) cannot be found on this machine (no local file has "
        "the recorded hash), so nothing was run:\n" + "\n".join(lines),
        hint="Put a copy of each at its path (any file with the same content will do), or "
        "fetch it (roar get), then run roar reproduce again.",
    )


def _init_store(wt: Path) -> None:
    """What ``roar init`` makes, in the worktree: a store of its own, the default config,
    and a ``.roar/`` that git ignores (done here: a ``roar init`` process costs ~0.2 s)."""
    ws = Workspace(wt)
    ws.roar_dir.mkdir(exist_ok=True)
    (ws.roar_dir / ".gitignore").write_text("# created by roar reproduce\n*\n", encoding="utf-8")
    ws.config_path.write_text(config_mod.TEMPLATE, encoding="utf-8")
    connect(ws.db_path).close()  # creates the schema


def _environment(
    plan: ReproPlan, options: RunOptions, console: Console, wt: Path, logs: Path
) -> environment.Venv:
    own = environment.project_name(wt)
    reqs = environment.requirements(plan, exclude={own} if own else None)
    for conflict in reqs.conflicts:
        console.err(f"Warning: steps recorded different versions of {conflict}")
    log = logs / "environment.log"
    if options.package_sync:
        console.err(environment.sync_system_packages(reqs.system, log))
    started = time.monotonic()
    venv = environment.cached_venv(reqs, log)
    how = "reused" if venv.cached else f"built in {time.monotonic() - started:.1f}s"
    console.err(f"Environment: {len(reqs.pip)} recorded package(s), virtualenv {how}: {venv.path}")
    if any(s.job.kind == "build" for s in plan.steps):
        venv = environment.private_venv(venv, wt, log)
    return venv


class Replayer:
    """Replays the plan's steps in order in the worktree, checking each step's outputs."""

    def __init__(
        self,
        ws: Workspace,
        plan: ReproPlan,
        console: Console,
        wt: Path,
        paths: placement.PathMap,
        venv: environment.Venv,
        logs: Path,
    ):
        self.ws, self.plan, self.console = ws, plan, console
        self.wt, self.paths, self.venv, self.logs = wt, paths, venv, logs
        self.wt_ws = Workspace(wt)
        self.env = venv.environ(dict(os.environ))
        self.user_env = config_mod.load(ws.config_path).env
        self.outcomes: list[StepOutcome] = []
        self.kernels: KernelReplay | None = None
        self.cells_run: set[str] = set()
        self.commit: str | None = None  # the worktree's HEAD, once known
        self.env_set = False  # the worktree's config holds roar env values
        self.allow_dirty = False  # sources were placed over committed files
        self.needed = {f.path for s in plan.steps for f in s.job.inputs}
        self.conn = connect(self.wt_ws.db_path, readonly=True)

    def log_of(self, ref: str) -> Path:
        return self.logs / f"step-{ref.lstrip('@')}.log"

    def run_all(self) -> StepOutcome | None:
        """Every step in order; the step that failed, if one did (the rest did not run)."""
        total = len(self.plan.steps)
        for i, step in enumerate(self.plan.steps, 1):
            outcome = self._step(i, total, step)
            self.outcomes.append(outcome)
            if outcome.exit_code != 0:
                return outcome
        return None

    def rows(self) -> list[verify.Row]:
        rows = [r for o in self.outcomes for r in o.rows]
        target = self.plan.target
        if target is not None and self.outcomes and not any(r.is_target for r in rows):
            # The target lies inside a step's output (a member of a directory it wrote).
            last = self.outcomes[-1]
            rows += verify.check(last.ref, [(target, self.paths.map(target.path), True)], None, 0)
        return rows

    def close(self) -> None:
        if self.kernels is not None:
            self.kernels.close()
        self.conn.close()

    def _step(self, i: int, total: int, step: PlanStep) -> StepOutcome:
        job = step.job
        shown = _short(job)
        if job.kind in NOT_RERUN:
            sys.stderr.write(f"[{i}/{total}] {job.ref} {shown} ... not re-run (a {job.kind}: "
                             "its outputs are remote copies)\n")  # fmt: skip
            return StepOutcome(job.ref, shown, 0)
        moved = self._at_commit(job)
        at = f" (at {moved[:12]})" if moved else ""
        sys.stderr.write(f"[{i}/{total}] {job.ref} {shown}{at} ... ")
        sys.stderr.flush()
        self._set_env(step)
        before = replicas.last_job_id(self.conn)
        started = time.monotonic()
        if job.kind == "cell":
            code = self._cell(job)
        elif job.kind == "get":
            code = self._get(job)
        else:
            code = self._command(job)
        outcome = StepOutcome(job.ref, shown, code, time.monotonic() - started)
        if code == 0:
            if replicas.last_job_id(self.conn) == before:
                self.console.err(f"\nWarning: roar recorded no job for the replay of {job.ref}")
            outcome.rows = verify.check(job.ref, self._wanted(job), self.conn, before)
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        diverged = [r for r in outcome.rows if r.status != verify.MATCH]
        note = f", {len(diverged)} output(s) differ" if diverged else ""
        sys.stderr.write(f"{status} {outcome.duration:.1f}s{note}\n")
        sys.stderr.flush()
        if code != 0:
            self._show_tail(job.ref)
        return outcome

    def _wanted(self, job: JobView) -> list[tuple[FileView, str, bool]]:
        """The outputs the plan needs (read by a later step, or the target; every output for a
        session's plan), with their paths in the worktree."""
        target, target_job = self.plan.target, self.plan.target_job
        whole = target is None and target_job is None
        out = []
        for f in job.outputs:
            if urls.is_url(f.path):
                continue  # a remote object (a get's source): verified by the download itself
            if target is not None:
                is_target = f.path == target.path or f.digest == target.digest
            else:
                is_target = target_job is not None and job.uid == target_job.uid
            if whole or is_target or f.path in self.needed:
                out.append((f, self.paths.map(f.path), is_target))
        return out

    def _at_commit(self, job: JobView) -> str | None:
        """Check out the step's commit when the worktree is elsewhere; the commit if it moved."""
        if job.git_dirty:
            self.console.err(
                f"Warning: {job.ref} was recorded with uncommitted changes: the files it read "
                f"are placed as it read them, other changes since commit "
                f"{(job.git_commit or '?')[:12]} are not in the worktree"
            )
        if self.commit is None:
            self.commit = worktree.head(self.wt)
        if job.git_commit and self.commit != job.git_commit:
            worktree.checkout(self.wt, job.git_commit)
            self.commit = job.git_commit
            return job.git_commit
        return None

    def _set_env(self, step: PlanStep) -> None:
        """The step's `roar env` variables, in the worktree's config (roar run injects them)."""
        names = step.job.metadata.get("env_injected") or []
        if not names and not self.env_set:
            return  # nothing to set, nothing set before
        recorded = step.job.metadata.get("env") or {}
        config = self.wt_ws.config_path
        for name in set(config_mod.load(config).env) - set(names):
            config_mod.set_env(config, name, None)
        self.env_set = bool(names)
        for name in names:
            value = recorded.get(name)
            if value is None or MASK in value:
                value = self.user_env.get(name)
            if value is None:
                self.console.err(f"\nWarning: no value known for {name} ({step.job.ref} read it)")
                continue
            config_mod.set_env(config, name, value)

    def _command(self, job: JobView) -> int:
        verb = "build" if job.kind == "build" else "run"
        algorithm = _algorithm(job)
        argv = [self.paths.arg(a) for a in job.argv]
        cmd = [sys.executable, "-m", "roar", verb, "-q", "--hash", algorithm]
        if self.allow_dirty or job.git_dirty:
            cmd.append("--allow-dirty")
        if job.step_name:
            cmd += ["-n", job.step_name]
        cmd += ["--", *argv]
        cwd = os.path.join(self.wt, job.cwd) if job.cwd else str(self.wt)
        os.makedirs(cwd, exist_ok=True)  # the step ran there: a folder no commit holds
        with self.log_of(job.ref).open("w", encoding="utf-8") as log:
            log.write(f"$ {shlex.join(argv)}  (in {cwd})\n")
            log.flush()
            proc = subprocess.run(
                cmd, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        return proc.returncode

    def _get(self, job: JobView) -> int:
        """``roar get URL DEST --hash H``: the recorded object downloaded again and checked
        against the recorded digest (a mismatch writes nothing and fails the step)."""
        source = next((f for f in job.outputs if urls.is_url(f.path)), None)
        local = next((f for f in job.outputs if not urls.is_url(f.path)), None)
        with self.log_of(job.ref).open("w", encoding="utf-8") as log:
            if source is None or local is None:
                log.write(f"{job.ref}: the get job records no URL and local copy to replay\n")
                return 1
            dest = self.paths.map(local.path) + ("/" if local.is_composite else "")
            os.makedirs(os.path.dirname(dest.rstrip("/")), exist_ok=True)
            argv = ["get", source.path, dest, "--hash", source.digest]
            cmd = [sys.executable, "-m", "roar", *argv]
            cwd = os.path.join(self.wt, job.cwd) if job.cwd else str(self.wt)
            os.makedirs(cwd, exist_ok=True)
            log.write(f"$ roar {shlex.join(argv)}  (in {cwd})\n")
            log.flush()
            proc = subprocess.run(
                cmd, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        return proc.returncode

    def _cell(self, job: JobView) -> int:
        if self.kernels is None:
            # The kernel runs on roar's Python (it needs roar_kernel); the recorded packages
            # come from the venv through PYTHONPATH.
            env = dict(self.env)
            sites = [str(s) for s in self.venv.sites()]
            env["PYTHONPATH"] = os.pathsep.join([*sites, *filter(None, [env.get("PYTHONPATH")])])
            self.kernels = KernelReplay(self.wt, env, self.log_of(job.ref))
        self.kernels.log = self.log_of(job.ref)
        notebook = self.paths.map(job.notebook_path or str(self.ws.root / "notebook.ipynb"))
        cwd = os.path.join(self.wt, job.cwd) if job.cwd else str(self.wt)
        cells = [*self._cell_dependencies(job), job]
        write_notebook(notebook, cells)
        for cell in cells:
            ok, error = self.kernels.run_cell(notebook, cwd, cell.source or "")
            self.cells_run.add(cell.uid)
            if not ok:
                with self.log_of(job.ref).open("a", encoding="utf-8") as fh:
                    fh.write(f"cell {cell.cell_id or cell.uid} failed: {error}\n")
                return 1
        return 0

    def _cell_dependencies(self, job: JobView) -> list[JobView]:
        from roar.store.queries import reader

        with reader(self.ws.db_path, readonly=True) as r:

            def lookup(uid: str) -> JobView | None:
                found = r.jobs_by_uid_prefix(uid)
                return found[0] if len(found) == 1 else None

            deps = dependencies(job, lookup)
        return [d for d in deps if d.uid not in self.cells_run and d.source is not None]

    def _show_tail(self, ref: str) -> None:
        try:
            lines = self.log_of(ref).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for line in lines[-LOG_TAIL:]:
            self.console.err(f"  | {line}")


def _short(job: JobView) -> str:
    if job.kind == "cell":
        where = os.path.basename(job.notebook_path) if job.notebook_path else "notebook"
        return f"cell {where}#{job.cell_id or job.execution_count or '?'}"
    text = job.command
    return text if len(text) <= 60 else text[:57] + "..."


def _algorithm(job: JobView) -> str:
    hashing = job.metadata.get("hashing") or {}
    for f in [*job.outputs, *job.inputs]:
        if f.algorithm:
            return f.algorithm
    return str(hashing.get("algorithm") or "blake3")
