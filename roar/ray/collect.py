"""The collection task, run once per node at the driver's ``ray.shutdown``: decode every worker
log of the job on this node and return it through Ray's object store.

Each worker log (``<base>/roar-preload-<token>-w<pid>/events.log``) is decoded by the preload
backend's own reader (``roar._native.preload_recover``) into the documented access summary. The
tasks the worker ran (``tasks.jsonl``) cut the log into per-task slices; each slice is decoded
the same way, giving the paths each task read and wrote.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from roar.ray.worker import TASKS_NAME

DIR_PREFIX = "roar-preload-"
LOG_NAME = "events.log"
PATHS_PER_TASK = 50  # the per-task lists in the job's metadata are capped (the job has them all)
_SYSTEM = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/")
COLLECT_TASK = "roar.collect"


def collect_node(token: str, base: str) -> dict[str, Any]:
    import roar._native as _native

    node = None
    try:
        import ray

        if ray.is_initialized():  # (outside a worker, asking would start a local Ray)
            node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001
        pass
    own = f"{DIR_PREFIX}{token}-w{os.getpid()}"
    workers: list[dict[str, Any]] = []
    partial: list[str] = []
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith(f"{DIR_PREFIX}{token}-w"))
    except OSError as exc:
        return {"workers": [], "partial": [f"node {node}: cannot list {base} ({exc})"]}
    for name in names:
        directory = os.path.join(base, name)
        try:  # nodes on one machine share the base: each worker's log is taken by one of them
            os.mkdir(os.path.join(directory, "claimed"))
        except OSError:
            continue
        tasks, meta = _tasks(directory)
        user_tasks = [t for t in tasks if t.get("task") != COLLECT_TASK]
        try:
            if name == own and not user_tasks:
                continue  # this collection's own worker, which ran nothing else
            if not user_tasks:
                continue  # a worker that ran none of the job's tasks (started, stayed idle)
            status, raw = _native.preload_recover(name[len(DIR_PREFIX) :])
            if status != "found" or raw is None:
                continue
            summary = json.loads(raw)
            files = [f for f in summary.get("files", []) if not _ours(f["path"], base, token)]
            node_id = meta.get("node_id") or node
            per_task = _per_task(directory, user_tasks, base, token)
            s3 = _s3_records(directory, node_id, per_task)
            workers.append(
                {
                    "node_id": node_id,
                    "pid": int(meta.get("pid") or name.rsplit("-w", 1)[-1]),
                    "tasks": per_task,
                    "files": files,
                    "warnings": summary.get("warnings", []),
                    **({"s3": s3} if s3 else {}),
                }
            )
        finally:  # the worker may still run: its shim appends to the unlinked log
            shutil.rmtree(directory, ignore_errors=True)
    return {"workers": workers, "partial": partial}


def _tasks(directory: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    try:
        with open(os.path.join(directory, TASKS_NAME)) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "task" in record:
                    tasks.append(record)
                else:
                    meta.update(record)
    except OSError:
        pass
    return tasks, meta


def _per_task(
    directory: str, tasks: list[dict[str, Any]], base: str, token: str
) -> list[dict[str, Any]]:
    """Each task with the paths it read and wrote: its slice of the worker's log, decoded."""
    import roar._native as _native

    out: list[dict[str, Any]] = []
    log = os.path.join(directory, LOG_NAME)
    try:
        data = open(log, "rb").read()  # noqa: SIM115
    except OSError:
        data = b""
    for n, task in enumerate(tasks):
        entry: dict[str, Any] = {"name": task["task"]}
        start, end = int(task.get("start", -1)), int(task.get("end", -1))
        if 0 <= start <= end <= len(data) and end > start:
            piece = f"{os.path.basename(directory)}-t{n}"[-64:]
            piece_dir = os.path.join(base, DIR_PREFIX + piece)
            try:
                os.mkdir(piece_dir, 0o700)
                with open(os.path.join(piece_dir, LOG_NAME), "wb") as f:
                    f.write(data[start:end])
                status, raw = _native.preload_recover(piece)
            finally:
                shutil.rmtree(piece_dir, ignore_errors=True)
            if status == "found" and raw:
                files = json.loads(raw).get("files", [])
                files = [f for f in files if not _ours(f.get("path", ""), base, token)]
                entry["reads"] = _paths(files, lambda f: f.get("read") and not f.get("is_dir"))
                entry["writes"] = _paths(files, lambda f: f.get("write") or f.get("create"))
        out.append(entry)
    return out


def _s3_records(
    directory: str, node_id: str | None, tasks: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The S3 objects the worker's tasks read and wrote (roar/remote_access), tagged with the
    node; each URL also joins its task's reads or writes."""
    from roar.remote_access.inprocess import RECORDS_NAME

    records: list[dict[str, Any]] = []
    try:
        with open(os.path.join(directory, RECORDS_NAME), "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return records
    by_name: dict[str, dict[str, Any]] = {}
    for entry in tasks:
        by_name.setdefault(entry["name"], entry)
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        record["node_id"] = node_id
        records.append(record)
        task = by_name.get(str((record.get("tags") or {}).get("task")))
        side = {"read": "reads", "write": "writes"}.get(record.get("op", ""))
        if task is not None and side and record.get("url"):
            listed = task.setdefault(side, [])
            if record["url"] not in listed and len(listed) < PATHS_PER_TASK:
                listed.append(record["url"])
    return records


def _paths(files: list[dict[str, Any]], keep: Any) -> list[str]:
    from roar.record.filters import NoiseFilter

    paths = sorted(
        f["path"]
        for f in files
        if keep(f) and not f["path"].startswith(_SYSTEM) and not NoiseFilter.is_package(f["path"])
    )
    return paths[:PATHS_PER_TASK]


def _ours(path: str, base: str, token: str) -> bool:
    return path.startswith(os.path.join(base, f"{DIR_PREFIX}{token}"))
