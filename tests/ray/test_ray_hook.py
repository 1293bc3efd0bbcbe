"""roar's Ray hook without a cluster: the runtime_env it gives workers, a policy refusing it,
the worker start-up prefix under the real preload library, and how roar run merges what the
driver collected. (The cluster itself: test_ray_cluster.py.)"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from roar.ray import driver, session
from roar.ray.view import worker_lines
from roar.tracing.run import FileAccess, Summary

pytest.importorskip("ray")


def _summary(files: list[FileAccess]) -> Summary:
    return Summary("preload", 0, None, None, files, [], [])


def test_runtime_env_keeps_the_users_fields_and_wraps_their_interpreter(monkeypatch):
    monkeypatch.setenv("ROAR_PRELOAD_LIB", "/bin/true")  # any existing file stands for the lib
    user = {
        "env_vars": {"MY_VAR": "1"},
        "py_executable": "/opt/py/bin/python -X dev",
        "worker_process_setup_hook": "mypkg.setup",
        "pip": ["requests"],
    }
    token, env = driver._with_roar(user)
    assert env["pip"] == ["requests"]
    assert env["env_vars"]["MY_VAR"] == "1"
    assert env["env_vars"]["ROAR_WORKER"] == "1"  # no telemetry from workers
    assert env["env_vars"]["ROAR_RAY_TOKEN"] == token
    assert env["env_vars"]["ROAR_RAY_USER_SETUP"] == "mypkg.setup"  # chained by roar's hook
    assert env["worker_process_setup_hook"] == driver.SETUP_HOOK
    assert env["py_executable"].startswith("/bin/sh -c ")
    assert env["py_executable"].endswith(" /opt/py/bin/python -X dev")
    assert user["env_vars"] == {"MY_VAR": "1"}  # the user's dict is not changed


def test_a_policy_refusing_the_hook_leaves_the_users_runtime_env_and_says_why(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("ROAR_PRELOAD_LIB", "/bin/true")
    monkeypatch.setenv(driver.OUT_ENV, str(tmp_path))
    monkeypatch.setenv(driver.PREV_HOOK_ENV, "tests.ray.policy.forbid_setup_hooks")
    user = {"env_vars": {"MY_VAR": "1"}}
    assert driver.runtime_env_hook(user) == user
    notes = [json.loads(p.read_text()) for p in tmp_path.glob("driver-*.json")]
    assert len(notes) == 1
    (why,) = notes[0]["partial"]
    assert "policy refused" in why and "worker_process_setup_hook" in why


def test_a_policy_stripping_the_hook_is_noticed(monkeypatch, tmp_path):
    monkeypatch.setenv("ROAR_PRELOAD_LIB", "/bin/true")
    monkeypatch.setenv(driver.OUT_ENV, str(tmp_path))
    monkeypatch.setenv(driver.PREV_HOOK_ENV, "tests.ray.policy.strip_setup_hooks")
    result = driver.runtime_env_hook({})
    assert "worker_process_setup_hook" not in result
    (note,) = [json.loads(p.read_text()) for p in tmp_path.glob("driver-*.json")]
    assert "removed roar's worker_process_setup_hook" in note["partial"][0]


def test_the_worker_prefix_starts_python_under_the_preload_library(monkeypatch, tmp_path):
    """What Ray runs for a worker (`bash -c "exec <py_executable> ARGS"`): the process gets its
    own log; C-level writes (a `cp` it starts) land in it; the backend's reader decodes it."""
    import roar._native as native

    lib = driver.shim_path()
    assert os.path.isfile(lib)
    token = f"t{os.getpid()}"
    base = driver.logs_base()
    out = tmp_path / "copied.txt"
    src = tmp_path / "src.txt"
    src.write_text("shard\n")
    _tok, env = driver._with_roar({})
    code = f"import subprocess; subprocess.run(['cp', {str(src)!r}, {str(out)!r}], check=True)"
    proc = subprocess.run(
        ["bash", "-c", f'exec {env["py_executable"]} -c "{code}"'],
        env={
            **os.environ,
            "ROAR_RAY_TOKEN": token,
            "ROAR_RAY_LOGS": base,
            "ROAR_PRELOAD_LIB": lib,
        },  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    (name,) = [n for n in os.listdir(base) if n.startswith(f"roar-preload-{token}-w")]
    try:
        status, raw = native.preload_recover(name[len("roar-preload-") :])
        assert status == "found"
        files = {f["path"]: f for f in json.loads(raw)["files"]}
        assert files[str(out)]["create"] and files[str(src)]["read"]
    finally:
        native.preload_discard(name[len("roar-preload-") :])


def test_merge_adds_worker_accesses_breakdown_and_one_warning(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shard = str(tmp_path / "shard.txt")
    result = str(tmp_path / "result.txt")
    (out / "driver-1-1.json").write_text(json.dumps({"partial": ["policy said no"]}))
    (out / "driver-1-2.json").write_text(
        json.dumps(
            {
                "workers": [
                    {
                        "node_id": "n1",
                        "pid": 7,
                        "tasks": [{"name": "work", "reads": [shard], "writes": [result]}],
                        "files": [
                            {"path": shard, "read": True},
                            {"path": result, "write": True, "create": True},
                        ],
                    }
                ],
                "partial": ["policy said no", "node n2: gone"],
                "logs": [str(tmp_path), "tok1"],
            }
        )
    )
    leftover = tmp_path / "roar-preload-tok1-w42"  # a worker that started after the collection
    (leftover / "claimed").mkdir(parents=True)
    (leftover / "events.log").write_bytes(b"")
    other = tmp_path / "roar-preload-tok2-w43"  # another job's: kept
    other.mkdir()
    summary = _summary([FileAccess(path=shard, write=True, mtime_ns_before=5)])
    env = {"PYTHONPATH": "/boot", "RAY_RUNTIME_ENV_HOOK": "x", "ROAR_RAY_OUT": str(out)}
    metadata: dict = {"env": dict(env)}
    s = session.RaySession(
        str(out), {"PYTHONPATH": None, "RAY_RUNTIME_ENV_HOOK": None, "ROAR_RAY_OUT": None}
    )
    s.merge(summary, metadata)
    files = {f.path: f for f in summary.files}
    assert files[shard].read and files[shard].write and files[shard].mtime_ns_before == 5
    assert files[result].create
    assert metadata["workers"] == [
        {
            "node_id": "n1",
            "pid": 7,
            "tasks": [{"name": "work", "reads": [shard], "writes": [result]}],
        }
    ]
    assert len(summary.warnings) == 1
    assert summary.warnings[0].startswith("Partial worker lineage: policy said no; node n2: gone.")
    assert metadata["env"] == {}  # roar's own variables are not the job's environment
    assert not out.exists()
    assert not leftover.exists() and other.exists()


def test_prepare_chains_an_administrators_hook_and_can_be_turned_off():
    env = {"RAY_RUNTIME_ENV_HOOK": "site.policy", "PYTHONPATH": "/x"}
    s = session.prepare(env)
    assert s is not None
    try:
        assert env["RAY_RUNTIME_ENV_HOOK"] == session.OUR_HOOK
        assert env["ROAR_RAY_PREV_HOOK"] == "site.policy"
        assert env["PYTHONPATH"] == f"{session.BOOT_DIR}{os.pathsep}/x"
        assert Path(env["ROAR_RAY_OUT"]).is_dir()
    finally:
        s.merge(_summary([]), {})
    assert session.prepare({"ROAR_RAY": "0"}) is None


def test_show_lines_count_tasks_per_worker():
    lines = worker_lines(
        [
            {"node_id": "b" * 40, "pid": 2, "tasks": [{"name": "work"}, {"name": "work"}]},
            {"node_id": "a" * 40, "pid": 9, "tasks": [{"name": "Saver.save"}]},
        ]
    )
    assert lines == [
        "Ray workers (2 on 2 node(s)):",
        f"  node {'a' * 12}  pid 9  tasks: Saver.save",
        f"  node {'b' * 12}  pid 2  tasks: work ×2",
    ]
