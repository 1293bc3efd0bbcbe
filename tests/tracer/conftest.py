"""Fixtures for the tracer tests: tiny C tracees compiled once per session,
and a helper that runs a command under ``roar._native.spawn_traced``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import roar._native as native  # a broken build fails these tests rather than skipping them

TRACEES = Path(__file__).parent / "tracees"


@pytest.fixture(scope="session")
def tracees(tmp_path_factory) -> dict[str, Path]:
    """name -> compiled binary (``static_writer`` is linked with -static)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "no C compiler: `make setup` installs gcc and libc6-dev"
    out = tmp_path_factory.mktemp("tracees")
    built: dict[str, Path] = {}
    for src in sorted(TRACEES.glob("*.c")):
        exe = out / src.stem
        cmd = [gcc, "-O1", "-o", str(exe), str(src), "-lpthread"]
        if src.stem.startswith("static"):
            cmd.insert(1, "-static")
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"cannot build tracee {src.name}:\n{done.stderr}"
        built[src.stem] = exe
    return built


class Traced:
    """A parsed summary with helpers keyed by path relative to ``cwd``."""

    def __init__(self, summary: dict, cwd: Path):
        self.summary = summary
        self.cwd = cwd
        self.files = {f["path"]: f for f in summary["files"]}

    @property
    def exit_code(self) -> int:
        return self.summary["exit_code"]

    def __getitem__(self, rel: str) -> dict | None:
        return self.files.get(os.path.join(str(self.cwd), rel))

    def flags(self, rel: str) -> str:
        """'r','w','c','d','x','l' letters for the path, '-' when absent."""
        f = self[rel]
        if f is None:
            return "-"
        keys = [
            ("read", "r"),
            ("write", "w"),
            ("create", "c"),
            ("delete", "d"),
            ("exec", "x"),
            ("dir_list", "l"),
        ]
        return "".join(c for k, c in keys if f[k])


@pytest.fixture
def trace(tmp_path):
    """trace(argv, **kw) -> Traced, run in a fresh (canonical) tmp dir."""
    cwd = tmp_path.resolve()

    def run(argv, env=None, timeout=60.0) -> Traced:
        proc = native.spawn_traced([str(a) for a in argv], env=env, cwd=str(cwd))
        out = proc.wait(timeout)
        assert out is not None, "traced command did not finish"
        return Traced(json.loads(out), cwd)

    run.cwd = cwd
    return run


# --- every backend ------------------------------------------------------------------------------

BACKENDS = tuple(native.TRACER_BACKENDS)  # ebpf, preload, ptrace: all must work here


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "ebpf":
        request.getfixturevalue("ebpf_service")
    return request.param


@pytest.fixture
def backend_trace(tmp_path, backend):
    """Like ``trace``, under the backend of the ``backend`` fixture."""
    cwd = tmp_path.resolve()

    def run(argv, env=None, timeout=60.0, intervals=False) -> Traced:
        proc = native.spawn_traced(
            [str(a) for a in argv], env=env, cwd=str(cwd), backend=backend, intervals=intervals
        )
        out = proc.wait(timeout)
        assert out is not None, "traced command did not finish"
        return Traced(json.loads(out), cwd)

    run.cwd = cwd
    return run
