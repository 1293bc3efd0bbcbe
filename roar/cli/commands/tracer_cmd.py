"""roar tracer [use BACKEND | check BACKEND | enable ebpf] [--json]"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from roar import config as config_mod
from roar.cli.commands._common import add_json_flag
from roar.cli.console import Console
from roar.errors import RoarError
from roar.records import asdict
from roar.tracing import ebpf_service, preflight, selection
from roar.workspace import find_workspace, require_workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tracer", help="Tracer backends: readiness, default, deep check, setup")
    add_json_flag(p)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    use = verbs.add_parser("use", help="set this project's default backend")
    use.add_argument("backend", choices=selection.CHOICES)
    check = verbs.add_parser("check", help="deep preflight of one backend, with the exact cause")
    check.add_argument("backend", choices=preflight.BACKENDS)
    add_json_flag(check)
    enable = verbs.add_parser("enable", help="one-shot host setup for a backend (eBPF: needs root)")
    enable.add_argument("backend", choices=preflight.BACKENDS)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    if args.verb == "use":
        return _use(args.backend, console)
    if args.verb == "check":
        return _check(args.backend, args.json, console)
    if args.verb == "enable":
        return _enable(args.backend, console)
    return _table(args.json, console)


def _configured() -> str:
    ws = find_workspace()
    if ws is None:
        return "auto"
    return str(config_mod.load(ws.config_path).get("tracer.backend"))


def _table(as_json: bool, console: Console) -> int:
    configured = _configured()
    rows = [selection.readiness(b) for b in preflight.BACKENDS]  # what a run would find
    usable = {r.backend for r in rows if r.ready}
    auto_pick = next((b for b in preflight.AUTO_ORDER if b in usable), None)
    active = configured if configured != "auto" else auto_pick
    last = _last_job_tracer()
    if as_json:
        console.json(
            {
                "default": configured,
                "active": active,
                "last_run": last,
                "backends": [
                    {"backend": r.backend, "ready": r.ready, "reason": r.reason, "fix": r.fix,
                     "default": r.backend == active}
                    for r in rows
                ],
            }
        )  # fmt: skip
        return 0
    console.out(f"{'BACKEND':<9} {'READY':<6} {'DEFAULT':<8} REASON")
    for r in rows:
        # pad before styling: escape codes would throw the column widths off
        ready = (
            console.style(f"{'yes':<6}", "green") if r.ready else console.style(f"{'no':<6}", "red")
        )
        mark = "*" if r.backend == active else ""
        console.out(f"{r.backend:<9} {ready} {mark:<8} {r.reason}")
    console.out()
    picked = f"auto → {auto_pick or 'none ready'}" if configured == "auto" else configured
    console.out(f"Default: {picked}   (change it with `roar tracer use BACKEND`)")
    if last:
        console.out(f"Last run used: {last['tracer']} ({last['command']})")
    for r in rows:
        if not r.ready and r.fix:
            console.out(console.style(f"{r.backend}: {r.fix}", "dim"))
    return 0


def _last_job_tracer() -> dict[str, str] | None:
    ws = find_workspace()
    if ws is None or not ws.db_path.exists():
        return None
    from roar.store.queries import reader

    with reader(ws.db_path) as r:
        session = r.active_session()
        jobs = r.session_jobs(session.id) if session else []
    if not jobs:
        return None
    job = max(jobs, key=lambda j: j.started_at)
    return {"tracer": job.tracer, "command": job.command, "job_uid": job.uid}


def _use(backend: str, console: Console) -> int:
    ws = require_workspace()
    if backend != "auto":
        readiness = preflight.quick(backend)
        if not readiness.ready:
            console.err(
                console.style(
                    f"Warning: {backend} is not ready here: {readiness.reason}.", "yellow"
                )
            )
    config_mod.set_value(ws.config_path, "tracer.backend", backend)
    console.err(f"Default tracer backend: {backend}")
    return 0


def _check(backend: str, as_json: bool, console: Console) -> int:
    result = preflight.deep(backend)
    if as_json:
        console.json(asdict(result))
        return 0 if result.ready else 1
    for check in result.checks:
        mark = console.style("ok  ", "green") if check.ok else console.style("FAIL", "red")
        console.out(f"{mark} {check.name:<20} {check.detail}")
    if result.ready:
        console.out(f"{backend} is ready.")
        return 0
    console.error(f"Tracer preflight failed for '{backend}': {result.reason}.", result.fix or None)
    return 1


def _enable(backend: str, console: Console) -> int:
    if backend != "ebpf":
        console.err(f"{backend} needs no host setup; `roar tracer check {backend}` verifies it.")
        return 0
    if os.geteuid() != 0:
        raise RoarError(
            "Enabling eBPF needs root: it mounts tracefs and starts the roar eBPF service.",
            hint="Run: sudo roar tracer enable ebpf",
        )
    _mount_tracefs(console)
    try:
        path = ebpf_service.ensure_running()
    except ebpf_service.ServiceError as exc:
        raise selection.preflight_error("ebpf", str(exc)) from exc
    os.chmod(path, 0o666)  # the service checks each peer's credentials itself
    console.err(
        f"eBPF service running at {path} (stops after 15 idle minutes; roar restarts it as root)."
    )
    return _check("ebpf", False, console)


def _mount_tracefs(console: Console) -> None:
    tracefs = Path("/sys/kernel/tracing")
    if (tracefs / "events").is_dir():
        return
    done = subprocess.run(
        ["mount", "-t", "tracefs", "nodev", str(tracefs)], capture_output=True, text=True
    )
    if done.returncode == 0:
        console.err(f"Mounted tracefs at {tracefs}")
    else:
        console.err(f"Warning: could not mount tracefs at {tracefs}: {done.stderr.strip()}")
