"""The driver's side: Ray's runtime_env hook (run inside ``ray.init``) and the collection of the
workers' accesses at ``ray.shutdown`` or exit.

The hook adds to the job's runtime_env, merged with what the user passed:

* ``py_executable``: a ``/bin/sh -c`` prefix that gives the worker process its own preload log
  directory and starts the real interpreter (the user's ``py_executable``, if any) with roar's
  preload library: C-level and subprocess I/O of the worker counts, as under ``roar run``.
* ``worker_process_setup_hook``: notes the tasks and actor methods each worker runs
  (``roar.ray.worker``), chaining the user's hook.
* ``env_vars``: where the logs go, the library, and ``ROAR_WORKER=1`` (no telemetry in workers).

A cluster policy (an administrator's own ``RAY_RUNTIME_ENV_HOOK``, chained after ours through
``ROAR_RAY_PREV_HOOK``) that refuses or strips these leaves the job as the user wrote it; roar
then records the driver's own files and says once that worker lineage is partial.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shlex
import sys
import tempfile
import threading
from typing import Any

OUT_ENV = "ROAR_RAY_OUT"  # where roar run reads what the driver collected
PREV_HOOK_ENV = "ROAR_RAY_PREV_HOOK"  # the RAY_RUNTIME_ENV_HOOK that was set before roar's
TOKEN_ENV = "ROAR_RAY_TOKEN"
LOGS_ENV = "ROAR_RAY_LOGS"
LIB_ENV = "ROAR_PRELOAD_LIB"
WORKER_ENV = "ROAR_WORKER"
USER_SETUP_ENV = "ROAR_RAY_USER_SETUP"
COLLECT_ENV = "ROAR_RAY_COLLECT"
SETUP_HOOK = "roar.ray.worker.setup"
COLLECT_TASK = "roar.collect"
COLLECT_TIMEOUT_S = 60.0
S3_OUT_ENV = "ROAR_S3_OUT"  # roar run's folder for S3 records (roar/remote_access)
S3_ALGORITHM_ENV = "ROAR_S3_ALGORITHM"
# What workers see instead of the driver's URLs (a driver's localhost is not theirs): the
# seeds' cluster variables, given to workers as the variables roar, boto3 and s3fs read.
CLUSTER_URLS = {
    "ROAR_CLUSTER_AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
    "ROAR_CLUSTER_GLAAS_URL": "ROAR_GLAAS_URL",
}

PARTIAL = "Partial worker lineage"

# Runs as `exec <this> <worker args>` under bash: $0 is the real interpreter. A worker whose node
# lacks the library (another machine) starts untraced; the collection then reports it.
_PREFIX = (
    'd="$ROAR_RAY_LOGS/roar-preload-$ROAR_RAY_TOKEN-w$$"; '
    'if [ -r "$ROAR_PRELOAD_LIB" ] && mkdir -m 700 "$d" && : > "$d/events.log"; then '
    'export ROAR_PRELOAD_LOG="$d/events.log" '
    'LD_PRELOAD="$ROAR_PRELOAD_LIB${LD_PRELOAD:+:$LD_PRELOAD}"; fi; exec "$0" "$@"'
)

_lock = threading.Lock()
_state: dict[str, Any] = {"armed": False, "seq": 0, "collected": set()}


def runtime_env_hook(runtime_env: Any) -> Any:
    """Ray's RAY_RUNTIME_ENV_HOOK: the user's runtime_env with roar's additions merged in."""
    original = runtime_env
    prev = os.environ.get(PREV_HOOK_ENV)
    try:
        token, ours = _with_roar(runtime_env)
    except Exception as exc:  # noqa: BLE001 - never break the user's ray.init
        note_partial(f"roar could not prepare the workers' runtime_env ({exc})")
        return _call(prev, original)
    try:
        result = _call(prev, ours)
    except Exception as exc:  # noqa: BLE001 - the cluster's policy refused our additions
        note_partial(f"the cluster's runtime_env policy refused roar's worker hook ({exc})")
        return _call(prev, original)
    if not _kept(result, token):
        note_partial(
            "the cluster's runtime_env policy removed roar's worker_process_setup_hook "
            "or py_executable"
        )
        return result
    _arm(token)
    return result


def _call(prev: str | None, runtime_env: Any) -> Any:
    if not prev:
        return runtime_env
    return load_object(prev)(runtime_env)


def load_object(dotted: str) -> Any:
    """``package.module.name`` → that object (how Ray names hooks in its variables)."""
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _kept(result: Any, token: str) -> bool:
    if not isinstance(result, dict):
        return False
    env_vars = result.get("env_vars") or {}
    return (
        result.get("worker_process_setup_hook") is not None
        and str(result.get("py_executable") or "").startswith("/bin/sh -c")
        and env_vars.get(TOKEN_ENV) == token
    )


def _with_roar(runtime_env: Any) -> tuple[str, dict[str, Any]]:
    env: dict[str, Any] = dict(runtime_env or {})
    lib = shim_path()
    token = f"ray{os.getpid()}x{secrets.token_hex(4)}"
    env_vars = dict(env.get("env_vars") or {})
    env_vars.update(
        {
            TOKEN_ENV: token,
            LOGS_ENV: logs_base(),
            LIB_ENV: lib,
            WORKER_ENV: "1",
        }
    )
    if os.environ.get(S3_ALGORITHM_ENV):
        env_vars[S3_ALGORITHM_ENV] = os.environ[S3_ALGORITHM_ENV]
    for cluster, name in CLUSTER_URLS.items():  # the user's own runtime_env value wins
        if os.environ.get(cluster) and name not in env_vars:
            env_vars[name] = os.environ[cluster]
    user_hook = env.get("worker_process_setup_hook")
    if isinstance(user_hook, str):
        env_vars[USER_SETUP_ENV] = user_hook
        env["worker_process_setup_hook"] = SETUP_HOOK
    elif user_hook is not None:
        from roar.ray.worker import chained

        env["worker_process_setup_hook"] = chained(user_hook)
    else:
        env["worker_process_setup_hook"] = SETUP_HOOK
    env["env_vars"] = env_vars
    python = str(env.get("py_executable") or sys.executable)
    env["py_executable"] = f"/bin/sh -c {shlex.quote(_PREFIX)} {python}"
    # workers started ahead for this runtime_env by the previous job (roar/ray/pool.py)
    from roar.ray import pool

    key = pool.key_of(env, TOKEN_ENV) if pool.enabled() else None
    _state["pool_key"] = key
    taken = pool.claim(logs_base(), key) if key is not None else None
    if taken:
        env_vars[TOKEN_ENV] = token = taken
    return token, env


def logs_base() -> str:
    """Where the preload backend looks for log directories first (rust/roar-preload)."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def shim_path() -> str:
    """The preload library's path on this machine (the traced driver already has it; otherwise
    the backend writes it out and names it to a tiny traced command)."""
    lib = os.environ.get(LIB_ENV)
    if lib and os.path.isfile(lib):
        return lib
    import roar._native as _native

    fd, out = tempfile.mkstemp(prefix="roar-ray-lib-")
    os.close(fd)
    try:
        argv = ["/bin/sh", "-c", 'printf %s "$ROAR_PRELOAD_LIB" > "$1"', "sh", out]
        _native.spawn_traced(argv, dict(os.environ), os.getcwd(), "preload").wait(30.0)
        with open(out) as f:
            lib = f.read().strip()
    finally:
        os.unlink(out)
    if not lib:
        raise RuntimeError("the preload backend did not name its library")
    return lib


def note_partial(why: str) -> None:
    """Tell roar run (once per reason) that some worker accesses are missing, and why."""
    _write({"partial": [why]})


def _write(payload: dict[str, Any]) -> None:
    out = os.environ.get(OUT_ENV)
    if not out:  # not under roar run (a driver started by hand with the hook): say it here
        for why in payload.get("partial", []):
            print(f"roar: {PARTIAL}: {why}", file=sys.stderr)
        return
    with _lock:
        _state["seq"] += 1
        name = f"driver-{os.getpid()}-{_state['seq']}.json"
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, f".{name}")
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, os.path.join(out, name))


def _arm(token: str) -> None:
    """Collect before the connection goes: at ray.shutdown(), or at exit (our atexit handler
    runs before Ray's, which ray registered when it was imported)."""
    _state["token"] = token
    if _state["armed"]:
        return
    _state["armed"] = True
    import ray

    original = ray.shutdown

    def shutdown(*args: Any, **kwargs: Any) -> Any:
        collect()
        return original(*args, **kwargs)

    shutdown.__wrapped__ = original  # type: ignore[attr-defined]
    shutdown.__doc__ = original.__doc__
    ray.shutdown = shutdown
    atexit.register(collect)


def collect() -> None:
    """Run one collection task on every live node; hand what they return to roar run."""
    token = _state.get("token")
    if not token or token in _state["collected"]:
        return
    _state["collected"].add(token)
    try:
        import ray

        if not ray.is_initialized():
            note_partial("Ray was shut down before roar could collect the workers' accesses")
            return
        workers, partial = _collect_nodes(ray, token)
    except Exception as exc:  # noqa: BLE001 - the user's program must end as it would
        note_partial(f"collecting the workers' accesses failed ({exc})")
        return
    _hand_over_s3(workers)
    _write({"workers": workers, "partial": partial, "logs": [logs_base(), token]})
    try:  # the next job's workers, started ahead (roar/ray/pool.py)
        from roar.ray import pool

        pool.offer(ray, logs_base(), _state.get("pool_key"), token, workers)
    except Exception:  # noqa: BLE001,S110 - only a head start for the next job
        pass


def _hand_over_s3(workers: list[dict[str, Any]]) -> None:
    """The workers' S3 records (roar/remote_access) to roar run's folder for them, with the
    driver's own: they join the job's remote inputs and outputs."""
    records = [r for w in workers for r in w.pop("s3", None) or []]
    out = os.environ.get(S3_OUT_ENV)
    if not records or not out:
        return
    path = os.path.join(out, f"ray-{os.getpid()}-{len(os.listdir(out))}.jsonl")
    try:
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    except OSError as exc:
        note_partial(f"the workers' S3 records could not be handed over ({exc})")


def _collect_nodes(ray: Any, token: str) -> tuple[list[dict[str, Any]], list[str]]:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from roar.ray.collect import collect_node

    # This machine's worker logs (every node on it shares the log folder) are read here, in
    # the driver; a node on another machine runs the collection task and returns its logs
    # through the object store. (A task on a node with no worker left would start one.)
    # ROAR_RAY_COLLECT=tasks: a task on every node, as if each were another machine.
    by_task = os.environ.get(COLLECT_ENV) == "tasks"
    here = {} if by_task else collect_node(token, logs_base())
    me = None if by_task else ray.util.get_node_ip_address()
    task = ray.remote(num_cpus=0, max_retries=0)(collect_node)
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("NodeManagerAddress") != me]
    refs = {
        n["NodeID"]: task.options(
            name=COLLECT_TASK,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote(token, logs_base())
        for n in nodes
    }
    workers: list[dict[str, Any]] = list(here.get("workers", []))
    partial: list[str] = list(here.get("partial", []))
    for node_id, ref in refs.items():
        try:
            got = ray.get(ref, timeout=COLLECT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a node gone or too slow: say so
            partial.append(f"node {node_id[:12]}: its workers' accesses were not collected ({exc})")
            continue
        workers += got.get("workers", [])
        partial += got.get("partial", [])
    return workers, partial
