"""`roar run`'s side: give a Ray driver the hook, then add what its workers did to the job.

``prepare`` (before the command starts) sets, only when Ray is importable: Ray's
``RAY_RUNTIME_ENV_HOOK`` to roar's (a tiny module in ``_boot/`` put on ``PYTHONPATH``; an
administrator's hook already set is kept and chained through ``ROAR_RAY_PREV_HOOK``) and
``ROAR_RAY_OUT``, a private directory the driver writes the collected worker summaries to.
``merge`` (after the command exits) adds the workers' accesses to the summary (hashed with the
driver's own files, so a path on this machine is the same artifact whoever touched it), the
per-worker breakdown to the job's metadata under ``"workers"``, and one "Partial worker lineage"
warning when some worker accesses are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from roar.record.handoff import private_dir, remove_dir, restore_env
from roar.tracing.run import FileAccess, Summary

# Every `roar run` imports this module (roar/record/recorder.py): typing (~14 M instructions)
# only for type checkers; no tempfile nor shutil (~13 M, with random, bz2 and lzma): see
# roar/record/handoff.py.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HOOK_ENV = "RAY_RUNTIME_ENV_HOOK"
OUT_ENV = "ROAR_RAY_OUT"
PREV_HOOK_ENV = "ROAR_RAY_PREV_HOOK"
OFF_ENV = "ROAR_RAY"  # "0": leave Ray drivers alone
BOOT_DIR = str(Path(__file__).parent / "_boot")
OUR_HOOK = "_roar_ray_hook.hook"
PARTIAL = "Partial worker lineage"
_FLAGS = ("read", "write", "create", "delete", "exec", "dir_list", "is_dir")


class RaySession:
    def __init__(self, out: str, before: dict[str, str | None]):
        self.out = out
        self.before = before  # the variables prepare() set, as they were

    def merge(self, summary: Summary, metadata: dict[str, Any]) -> None:
        """The collected worker accesses into ``summary``; the breakdown into ``metadata``."""
        restore_env(metadata, self.before)
        try:
            workers, partial = self._read()
        finally:
            remove_dir(self.out)
        if not workers and not partial:
            return
        # roar's own modules, read by the hook in the driver and workers, are not the job's inputs
        own = str(Path(__file__).resolve().parent.parent) + os.sep
        summary.files[:] = [f for f in summary.files if not _roar_read(f, own)]
        by_path = {f.path: f for f in summary.files}
        for worker in workers:
            for entry in worker.pop("files", []):
                if not str(entry.get("path", "")).startswith(own) or entry.get("write"):
                    _add(by_path, summary, entry)
        if workers:
            metadata["workers"] = workers
        if partial:
            reasons = list(dict.fromkeys(partial))
            summary.warnings.append(
                f"{PARTIAL}: {'; '.join(reasons)}. The driver's own files are recorded; "
                "check the cluster's runtime_env policy (worker_process_setup_hook, "
                "py_executable) — see docs/ray.md."
            )

    def _read(self) -> tuple[list[dict[str, Any]], list[str]]:
        workers: list[dict[str, Any]] = []
        partial: list[str] = []
        try:
            names = sorted(os.listdir(self.out))
        except OSError:
            return workers, partial
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                data = json.loads(Path(self.out, name).read_text())
            except (OSError, ValueError):
                continue
            workers += data.get("workers") or []
            _remove_leftover_logs(data.get("logs"))
            got = data.get("partial") or []
            partial += [got] if isinstance(got, str) else list(got)
        return workers, partial


def prepare(env: dict[str, str]) -> RaySession | None:
    """Give a Ray driver roar's runtime_env hook (``env`` is the command's environment)."""
    if env.get(OFF_ENV) == "0" or env.get(HOOK_ENV) == OUR_HOOK:
        return None
    if importlib.util.find_spec("ray") is None:
        return None
    out = private_dir("roar-ray-")
    if out is None:  # no temporary folder takes one: the driver runs as it would untraced
        return None
    before = {k: env.get(k) for k in (HOOK_ENV, OUT_ENV, PREV_HOOK_ENV, "PYTHONPATH")}
    if env.get(HOOK_ENV):
        env[PREV_HOOK_ENV] = env[HOOK_ENV]
    env[HOOK_ENV] = OUR_HOOK
    env[OUT_ENV] = out
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + path if path else "")
    return RaySession(out, before)


def _add(by_path: dict[str, FileAccess], summary: Summary, entry: dict[str, Any]) -> None:
    path = str(entry.get("path", ""))
    if not path:
        return
    known = by_path.get(path)
    if known is None:
        known = FileAccess(path=path, mtime_ns_before=entry.get("mtime_ns_before"))
        by_path[path] = known
        summary.files.append(known)
    elif known.mtime_ns_before is None:
        known.mtime_ns_before = entry.get("mtime_ns_before")
    for flag in _FLAGS:
        if entry.get(flag):
            setattr(known, flag, True)


def _roar_read(f: FileAccess, own: str) -> bool:
    return f.path.startswith(own) and not (f.write or f.create or f.delete)


def _remove_leftover_logs(logs: object) -> None:
    """The log folders of workers that started after the collection (a worker that ran the
    collection task, or one Ray started as the job ended) on this machine: nothing reads them."""
    if not (isinstance(logs, list) and len(logs) == 2 and all(isinstance(x, str) for x in logs)):
        return
    base, token = logs
    prefix = f"roar-preload-{token}-w"
    if not token or "/" in token:
        return
    try:
        names = [n for n in os.listdir(base) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        remove_dir(os.path.join(base, name))
