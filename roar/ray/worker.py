"""The worker's side: Ray's ``worker_process_setup_hook``.

The worker already runs under the preload library (the ``py_executable`` prefix gave it its own
log, ``$ROAR_PRELOAD_LOG``). This hook notes, in ``tasks.jsonl`` beside that log, the worker's
node and each task or actor method it runs with the log's size before and after, so that the
collection can say which task made which access. Sizes are taken with ``stat`` (not traced) and
the line written through an fd opened once: a task costs two stats and one write.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable
from typing import Any

TASKS_NAME = "tasks.jsonl"


def setup() -> None:
    """Run by Ray in every worker of the job before it takes tasks."""
    user = os.environ.get("ROAR_RAY_USER_SETUP")
    try:
        _install()
    except Exception:  # noqa: BLE001,S110 - lineage must never break the worker
        pass
    if user:
        from roar.ray.driver import load_object

        load_object(user)()


def chained(user_hook: Callable[[], Any]) -> Callable[[], Any]:
    """roar's setup, then the user's own callable hook."""

    def hook() -> Any:
        setup()
        return user_hook()

    return hook


def _install() -> None:
    log = os.environ.get("ROAR_PRELOAD_LOG", "")
    token = os.environ.get("ROAR_RAY_TOKEN", "")
    if not log or not token or f"roar-preload-{token}-w" not in log:
        return  # the worker is not traced (no library on this node): nothing to note
    import ray
    from ray._private import function_manager

    fd = os.open(
        os.path.join(os.path.dirname(log), TASKS_NAME),
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
        0o600,
    )
    try:
        node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001
        node = None
    _emit(fd, {"pid": os.getpid(), "node_id": node})
    _watch_s3(log)
    manager = function_manager.FunctionActorManager
    original = manager.get_execution_info
    if getattr(original, "_roar", False):
        return
    wrapped: dict[Any, Any] = {}

    def get_execution_info(self: Any, job_id: Any, descriptor: Any) -> Any:
        info = original(self, job_id, descriptor)
        key = descriptor.function_id
        if key not in wrapped:
            wrapped[key] = info._replace(function=_timed(info.function, descriptor, log, fd))
        return wrapped[key]

    get_execution_info._roar = True  # type: ignore[attr-defined]
    manager.get_execution_info = get_execution_info  # type: ignore[method-assign,assignment]


def _watch_s3(log: str) -> None:
    """roar's S3 hooks (roar/remote_access) in this worker: the objects its tasks read and write
    through boto3/s3fs, noted beside its log, each with the task's name."""
    try:
        from roar.remote_access.inprocess import RECORDS_NAME, start

        start(os.path.join(os.path.dirname(log), RECORDS_NAME), _s3_tags)
    except Exception:  # noqa: BLE001,S110 - lineage must never break the worker
        pass


def _s3_tags() -> dict[str, Any] | None:
    import ray

    name = ray.get_runtime_context().get_task_name()
    return {"task": name} if name else None


def _timed(function: Callable[..., Any], descriptor: Any, log: str, fd: int) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function) or inspect.isgeneratorfunction(function):
        return function  # async actors and generators interleave: noted per worker only
    fallback = getattr(descriptor, "repr", None) or str(descriptor)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        start = _size(log)
        try:
            return function(*args, **kwargs)
        finally:
            _emit(fd, {"task": _task_name(fallback), "start": start, "end": _size(log)})

    return run


def _task_name(fallback: str) -> str:
    try:
        import ray

        return ray.get_runtime_context().get_task_name() or fallback
    except Exception:  # noqa: BLE001
        return fallback


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _emit(fd: int, record: dict[str, Any]) -> None:
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    except OSError:
        pass
