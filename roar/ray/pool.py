"""Traced workers started ahead for the next `roar run` of a Ray driver (docs/ray.md).

Why: a Ray worker whose job has a runtime_env (roar's: a ``py_executable`` prefix, a setup hook,
``env_vars``) is not started as ``default_worker.py`` directly: the raylet runs Ray's
``setup_worker.py``, which imports ray to apply the runtime_env and then execs the worker, which
imports ray again. Every job's first task waits for those two interpreter starts (a job without
a runtime_env waits for one); where ``import ray`` is slow that is seconds.

So at the collection (the end of job J, token T) the driver asks each node's raylet, through
Ray's own ``NodeManagerService.PrestartWorkers`` (on the raylet's existing port), to start as
many workers as J ran on that node (at most the node's CPUs) with J's runtime_env under a new
token T2, bound to no job and kept alive ``KEEP_ALIVE_S``, and leaves a note
``roar-ray-pool-<T2>.json`` in the log folder saying which runtime_env they carry. The next
driver on this machine whose runtime_env (roar's additions and the user's, less the token) is
the same takes the note (``unlink``: one driver wins) and uses T2 as its token: its runtime_env
then hashes as theirs did, and Ray hands its tasks to those workers, which have started, run
roar's setup hook and opened their preload logs already. A token still belongs to one job; a
job that finds no note, or whose user changed the runtime_env, starts its workers as before.
Workers of a pool nobody takes stay idle, as Ray's own prestarted workers do (Ray keeps them
for KEEP_ALIVE_S, then within its idle-worker limit). ``ROAR_RAY_POOL=0`` turns this off.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

POOL_ENV = "ROAR_RAY_POOL"  # "0": no workers started ahead, none taken
NOTE_PREFIX = "roar-ray-pool-"
KEEP_ALIVE_S = 600
RPC_TIMEOUT_S = 5.0
STALE_S = 86400  # notes older than a day are removed (their workers are long gone)


def enabled() -> bool:
    return os.environ.get(POOL_ENV) != "0"


def key_of(runtime_env: dict[str, Any], token_env: str) -> str | None:
    """What must match for a job to use a pool: the runtime_env without its token. None when
    it cannot match (a callable setup hook is exported per job, under a key of its own)."""
    if not isinstance(runtime_env.get("worker_process_setup_hook"), str):
        return None
    env = dict(runtime_env)
    env["env_vars"] = {k: v for k, v in (env.get("env_vars") or {}).items() if k != token_env}
    try:
        text = json.dumps(env, sort_keys=True)
    except (TypeError, ValueError):  # something JSON cannot say: no pool
        return None
    import hashlib

    # a digest: the user's env_vars may hold credentials, which the note must not
    return hashlib.sha256(text.encode()).hexdigest()


def claim(base: str, key: str) -> str | None:
    """The token of a pool started for ``key``, taken for this job (its note removed). The hook
    runs before Ray connects: a pool on another cluster is told apart when both drivers named
    their cluster in RAY_ADDRESS; otherwise a job that takes it merely starts its workers."""
    now = time.time()
    address = os.environ.get("RAY_ADDRESS")
    for name, note in _notes(base):
        path = os.path.join(base, name)
        if now - float(note.get("at", 0)) > STALE_S:
            _unlink(path)
            continue
        if note.get("key") != key or (address and note.get("ray_address") not in (None, address)):
            continue
        try:
            os.unlink(path)  # the one driver that removes it has it
        except OSError:
            continue
        token = note.get("token")
        if isinstance(token, str) and token and "/" not in token:
            return token
    return None


def offer(ray: Any, base: str, key: str | None, token: str, workers: list[dict[str, Any]]) -> None:
    """Start the next job's workers: as many per node as this job ran there (its CPUs at most),
    with this job's runtime_env under a new token; leave the note that names them."""
    sweep(base)
    here = ray.get_runtime_context().gcs_address
    if key is None or any(
        note.get("key") == key and note.get("address") == here for _, note in _notes(base)
    ):
        return  # no pool possible, or one is waiting already on this cluster
    per_node: dict[str, int] = {}
    for w in workers:
        if w.get("node_id"):
            per_node[w["node_id"]] = per_node.get(w["node_id"], 0) + 1
    if not per_node:
        return
    from ray._private.grpc_utils import init_grpc_channel
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc

    job = ray._private.worker.global_worker.core_worker.get_job_config()
    serialized = job.runtime_env_info.serialized_runtime_env
    if token not in serialized:
        return
    new = f"ray{os.getpid()}x{secrets.token_hex(4)}p"
    started = 0
    for node in ray.nodes():
        count = min(per_node.get(node.get("NodeID"), 0), int(node["Resources"].get("CPU", 0)))
        if not node.get("Alive") or count <= 0:
            continue
        request = node_manager_pb2.PrestartWorkersRequest(  # type: ignore[attr-defined]
            language=common_pb2.Language.PYTHON,  # type: ignore[attr-defined]
            keep_alive_duration_secs=KEEP_ALIVE_S,
            num_workers=count,
        )
        request.runtime_env_info.CopyFrom(job.runtime_env_info)
        request.runtime_env_info.serialized_runtime_env = serialized.replace(token, new)
        address = f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
        try:
            with init_grpc_channel(address) as channel:
                stub = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
                stub.PrestartWorkers(request, timeout=RPC_TIMEOUT_S)
            started += count
        except Exception:  # noqa: BLE001,S112 - only a head start: the next job starts cold
            continue
    if started:
        note = {"token": new, "key": key, "address": here, "at": time.time(), "workers": started}
        note["ray_address"] = os.environ.get("RAY_ADDRESS")
        _write_note(base, note)


def sweep(base: str, older_than_s: float = 3600) -> None:
    """Remove the log folders of workers that are gone and whose log has not changed for an
    hour: a pool's worker that started after the job that took its token had collected, or one
    of a pool nobody took, once Ray ended it (nothing will read them)."""
    now = time.time()
    try:
        names = [n for n in os.listdir(base) if n.startswith("roar-preload-ray") and "-w" in n]
    except OSError:
        return
    for name in names:
        pid = name.rsplit("-w", 1)[1]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        directory = os.path.join(base, name)
        try:
            if now - os.stat(os.path.join(directory, "events.log")).st_mtime < older_than_s:
                continue
        except OSError:
            continue
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def _notes(base: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith(NOTE_PREFIX))
    except OSError:
        return []
    notes = []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(base, name)) as f:
                note = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(note, dict):
            notes.append((name, note))
    return notes


def _write_note(base: str, note: dict[str, Any]) -> None:
    name = f"{NOTE_PREFIX}{note['token']}.json"
    tmp = os.path.join(base, f".{name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(note, f)
        os.replace(tmp, os.path.join(base, name))
    except OSError:
        _unlink(tmp)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
