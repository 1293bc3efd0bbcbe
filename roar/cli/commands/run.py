"""roar run [opts] CMD... | roar run @N [--k=v ...]; roar build [opts] CMD...

The command's own output streams through untouched; roar's report goes to stderr and roar
exits with the command's exit code.
"""

from __future__ import annotations

import re
import shlex
import types

from roar.cli.console import Console, display_path, exit_text, human_size
from roar.errors import RoarError
from roar.record.recorder import RunOutcome, RunRequest, run
from roar.store.spool import Spooled

TYPE_CHECKING = False  # argparse is imported only when a parser is built (see parse_quick)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

RULE = "=" * 60
# roar's own exit status when the command's was not seen (its job records the code as unknown).
UNKNOWN_EXIT = 1
OVERRIDE = re.compile(r"^--?([\w.-]+)=(.*)$", re.DOTALL)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="Run a command and record what it read and wrote")
    _add_common(p)
    p.set_defaults(handler=handle, kind="run", exit_at_once=True)


# The options parse_quick reads itself: flag -> (attribute, takes a value).
_QUICK_OPTIONS = {
    "-q": ("quiet", False),
    "--quiet": ("quiet", False),
    "-n": ("name", True),
    "--name": ("name", True),
    "--hash": ("hash_algorithm", True),
    "--allow-dirty": ("allow_dirty", False),
    "--tracer": ("tracer", True),
}


def parse_quick(kind: str, argv: Sequence[str]) -> types.SimpleNamespace | None:
    """What the parser that ``add_parser`` builds makes of ``roar KIND ARGV...``, for the
    plain spellings of the options (``-q``, ``--name X``, ``--name=X``, …) followed by the
    command; None for anything else (-h, an abbreviation, ``--``, an unknown or repeated-looking
    option, a value that starts with ``-``, no command), which argparse then parses as before.
    Building argparse's parser (with re's compiled patterns, gettext and locale) was ~18 M
    instructions of every ``roar run``. tests/cli/test_run_parse.py holds the two together."""
    values: dict[str, object] = {
        "quiet": False,
        "name": None,
        "hash_algorithm": None,
        "allow_dirty": False,
        "tracer": None,
    }
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag, eq, value = argv[i].partition("=")
        known = _QUICK_OPTIONS.get(flag)
        if known is None or (eq and not known[1]) or (eq and not flag.startswith("--")):
            return None
        attribute, takes_value = known
        if takes_value and not eq:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            i += 1
            value = argv[i]
        values[attribute] = value if takes_value else True
        i += 1
    if i >= len(argv):
        return None  # no command: argparse's namespace, and handle's error, as before
    return types.SimpleNamespace(
        command=kind,
        **values,
        cmd=list(argv[i:]),
        handler=handle,
        kind=kind,
        exit_at_once=True,
    )


class BuildCommand:
    @staticmethod
    def add_parser(sub: argparse._SubParsersAction) -> None:
        p = sub.add_parser(
            "build", help="Run and record a build step (@BN), replayed first on reproduce"
        )
        _add_common(p)
        p.set_defaults(handler=handle, kind="build", exit_at_once=True)


def _add_common(p: argparse.ArgumentParser) -> None:
    import argparse

    p.add_argument("-q", "--quiet", action="store_true", help="no report after the run")
    p.add_argument("-n", "--name", help="a name for this step")
    p.add_argument(
        "--hash", dest="hash_algorithm", metavar="ALGO", help="blake3 (default) or sha256"
    )
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="run with uncommitted changes; record the diff hash",
    )
    p.add_argument(
        "--tracer",
        metavar="BACKEND",
        help="tracer backend for this run (auto, ebpf, preload, ptrace)",
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND", help="the command to run")


def handle(
    args: argparse.Namespace, console: Console, runner: Callable[[RunRequest], RunOutcome] = run
) -> int:
    """``runner`` records the command; the notebook kernel passes its own (see roar_kernel)."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise RoarError(
            "No command given.", hint=f"Usage: roar {args.kind} [options] COMMAND [ARGS...]"
        )
    forced_step, kind = None, args.kind
    if re.match(r"^@B?\d+$", cmd[0], re.IGNORECASE):
        cmd, forced_step, kind = _rerun(cmd, console)
    outcome = runner(
        RunRequest(
            argv=cmd,
            kind=kind,
            name=args.name,
            hash_algorithm=args.hash_algorithm,
            allow_dirty=args.allow_dirty,
            tracer=args.tracer,
            forced_step=forced_step,
        )
    )
    # roar exits with the command's code; one nobody saw is recorded as unknown, not made up
    code = UNKNOWN_EXIT if outcome.exit_code is None else outcome.exit_code
    if outcome.not_started:
        console.error(
            f"cannot run {shlex.quote(cmd[0])}: {outcome.not_started}",
            "Check the command name and your PATH.",
        )
        return code
    if outcome.spooled:
        _report_spooled(outcome.spooled, console)
    elif not (args.quiet or outcome.quiet):
        _report(outcome, console)
    for warning in outcome.warnings:
        console.err(f"Warning: {warning}")
    return code


def _report_spooled(spooled: Spooled, console: Console) -> None:
    """The command ran but its job is not in the store: say where it is, or that it is lost."""
    if spooled.kept_at is not None:
        console.error(
            f"roar could not record this job: {spooled.failure}",
            f"The job is kept in {display_path(str(spooled.kept_at))}; once the store can be "
            "written again (free some space, or make it writable), the next roar command "
            "records it. Do not rerun the command for it.",
        )
    else:
        console.error(
            f"roar could not record this job: {spooled.failure} It could not be kept aside "
            f"either ({spooled.keep_error}), so this run is not recorded.",
            spooled.hint,
        )


def _rerun(cmd: list[str], console: Console) -> tuple[list[str], int, str]:
    """`@N --k=v ...` → the step's recorded command with the overrides applied."""
    from roar.query.history import resolve_step
    from roar.store.queries import reader
    from roar.workspace import require_workspace

    ref, extra = cmd[0], cmd[1:]
    bad = [a for a in extra if not OVERRIDE.match(a)]
    if bad:
        raise RoarError(f"Only --key=value overrides may follow {ref}; got {bad[0]!r}.")
    ws = require_workspace()
    with reader(ws.db_path) as r:
        job = resolve_step(r, ref)
    from roar.record.secrets import MASK

    if any(MASK in arg for arg in job.argv):
        raise RoarError(
            f"Step {job.ref} was recorded with secrets masked ({MASK}), so roar cannot rerun it "
            f"as it ran: {job.command}",
            hint="Run the command again yourself with the real values (better: pass secrets "
            "through environment variables, which roar masks without changing the command).",
        )
    argv = apply_overrides(list(job.argv), extra)
    console.err(f"Re-running {job.ref}: {shlex.join(argv)}")
    console.err()
    return argv, job.step_number, job.kind


def apply_overrides(argv: list[str], overrides: list[str]) -> list[str]:
    """Replace `--k=v` / `--k v` in argv, or append the override when the flag is absent."""
    for override in overrides:
        m = OVERRIDE.match(override)
        assert m is not None
        key, value = m.group(1), m.group(2)
        flag = f"--{key}"
        for i, arg in enumerate(argv):
            if arg.startswith(flag + "="):
                argv[i] = f"{flag}={value}"
                break
            if arg == flag and i + 1 < len(argv):
                argv[i + 1] = value
                break
        else:
            argv.append(f"{flag}={value}")
    return argv


def _report(o: RunOutcome, console: Console) -> None:
    # Here, not at the top: building views' dataclasses costs more than a quiet run's report.
    from roar.store.views import step_ref

    title = "ROAR Build Complete" if o.kind == "build" else "ROAR Run Complete"
    if o.interrupted:
        title = title.replace("Complete", "Interrupted")
    elif o.exit_code != 0:  # recorded all the same: a failed run is provenance too
        title = title.replace("Complete", f"Failed ({exit_text(o.exit_code)})")
    ref = step_ref(o.kind, o.step_number) if o.step_number else "?"
    lines = [
        "",
        RULE,
        title,
        RULE,
        f"Command: {o.command}",
        f"Duration: {o.duration:.1f}s",
        f"Exit code: {'unknown' if o.exit_code is None else o.exit_code}",
    ]
    if o.interrupted:
        lines.append("Status: interrupted")
    for label, role in (("Read files:", "input"), ("Written files:", "output")):
        files = o.files_in(role)
        if files:
            lines.append(label)
            for f in files:
                lines.append(f"  {display_path(f.path)}")
                lines.append(
                    f"    size: {human_size(f.size)}  {o.algorithm}: {(f.digest or '')[:12]}…"
                )
    gone = o.files_in("deleted")
    if gone:
        lines.append("Deleted files:")
        lines += [f"  {display_path(f.path)}" for f in gone]
    rerun = " (rerun)" if o.is_rerun else ""
    lines.append(f"Step: {ref}{rerun}")
    lines.append(f"Job: {o.job_uid}")
    console.err("\n".join(lines))
