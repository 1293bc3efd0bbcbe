"""A store that cannot take a job must never cost the user's command or its record.

Before the command starts, roar opens, upgrades and write-checks the store: a damaged store, one
from a newer roar, a read-only one or a full disk stop roar *before* the command runs, with a
message that names the real cause (only a damaged file is worth moving aside). When the write
fails after the command ran, the job is kept in `.roar/spool/`, roar exits with the command's
own code, and the next roar command records it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_all
from tests.faults.conftest import BACKENDS, SmallDisk

MARKER_CMD = ["sh", "-c", "touch ran.txt; exit 3"]
# Writes its output, then fills the disk that holds `.roar/` up to ~12 KB: the store's write
# (WAL frames) no longer fits, a spooled job (a few KB) still does.
FILLING_CMD = [
    "sh",
    "-c",
    "echo result > out.txt; "
    "head -c $(( $(df -B1 --output=avail .roar | tail -1) - 12288 )) /dev/zero > .roar/filler; "
    "exit 3",
]


def assert_not_started(result, repo: Path) -> None:
    assert result.returncode == 1, result.stderr
    assert not (repo / "ran.txt").exists(), "the command ran although its job could not be stored"
    assert "Traceback" not in result.stderr


def test_damaged_store_stops_before_the_command(repo, run_roar):
    db = repo / ".roar" / "roar.db"
    with open(db, "r+b") as fh:  # keep the header, damage the pages after it
        fh.seek(100)
        fh.write(b"garbage" * 2000)
    result = run_roar("run", *MARKER_CMD, cwd=repo, check=False)
    assert_not_started(result, repo)
    assert "damaged" in result.stderr and "Move it aside" in result.stderr


def test_newer_store_stops_before_the_command(repo, run_roar):
    with sqlite3.connect(repo / ".roar" / "roar.db") as conn:
        conn.execute("PRAGMA user_version = 999")
    result = run_roar("run", *MARKER_CMD, cwd=repo, check=False)
    assert_not_started(result, repo)
    assert "newer roar" in result.stderr and "Upgrade roar" in result.stderr


def test_read_only_store_stops_before_the_command(repo, run_roar, small_disk: SmallDisk):
    small_disk.remount("ro")
    result = run_roar("run", *MARKER_CMD, cwd=repo, check=False)
    assert_not_started(result, repo)
    assert "read-only" in result.stderr
    assert ".damaged" not in result.stderr  # the store is fine: never told to move it aside
    log = run_roar("log", cwd=repo, check=False)
    assert log.returncode == 1 and "Traceback" not in log.stderr
    assert "read-only" in log.stderr


def test_full_disk_stops_before_the_command(repo, run_roar, small_disk: SmallDisk):
    small_disk.fill()
    result = run_roar("run", *MARKER_CMD, cwd=repo, check=False)
    assert_not_started(result, repo)
    assert "disk holding the roar store is full" in result.stderr
    assert ".damaged" not in result.stderr
    small_disk.free_up()
    assert run_roar("log", "--json", cwd=repo).json()["jobs"] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_disk_filled_by_the_command_spools_its_job(repo, run_roar, small_disk: SmallDisk, backend):
    (repo / ".gitignore").write_text(".roar/\nout.txt\n")
    commit_all(repo)
    result = run_roar("run", "--tracer", backend, *FILLING_CMD, cwd=repo, check=False)
    assert result.returncode == 3, result.stderr  # the command's own exit code
    assert "roar could not record this job" in result.stderr
    assert "disk holding the roar store is full" in result.stderr
    spooled = list((repo / ".roar" / "spool").glob("*.json"))
    assert len(spooled) == 1 and ".roar/spool/" in result.stderr

    small_disk.free_up()
    log = run_roar("log", "--json", cwd=repo)
    assert "recorded 1 job(s) that were kept" in log.stderr
    (job,) = log.json()["jobs"]
    assert job["exit_code"] == 3 and job["tracer"] == backend
    assert [o["path"] for o in job["outputs"]] == [str(repo / "out.txt")]
    assert not (repo / ".roar" / "spool").exists()
    # imported once: a second command finds nothing more to import
    again = run_roar("log", "--json", cwd=repo)
    assert len(again.json()["jobs"]) == 1 and "kept" not in again.stderr


def test_unreadable_spool_file_is_set_aside(repo, run_roar):
    spool = repo / ".roar" / "spool"
    spool.mkdir()
    (spool / "0001-1.json").write_text("{not json")
    result = run_roar("log", "--json", cwd=repo)
    assert result.json()["jobs"] == []
    assert "could not be read" in result.stderr
    assert (spool / "0001-1.unreadable").exists()


def test_deleted_working_directory_is_a_clear_error(repo):
    gone = repo / "gone"
    for argv in (["log"], ["run", "true"], ["status"]):
        gone.mkdir()
        # the directory disappears after the shell entered it, as in `cd gone; rm -r ../gone`
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys, runpy; os.chdir(sys.argv[1]); os.rmdir(sys.argv[1]); "
                "sys.argv = ['roar', *sys.argv[2:]]; runpy.run_module('roar', run_name='__main__')",
                str(gone),
                *argv,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result.stderr
        assert "current directory no longer exists" in result.stderr
        assert "Traceback" not in result.stderr


def test_spooled_job_keeps_its_hashes(repo, run_roar, small_disk: SmallDisk):
    """Nothing is recomputed at import: the output's hash is the one taken when the job ended."""
    (repo / ".gitignore").write_text(".roar/\nout.txt\n")
    commit_all(repo)
    run_roar("run", *FILLING_CMD, cwd=repo, check=False)
    (spooled,) = (repo / ".roar" / "spool").glob("*.json")
    kept = json.loads(spooled.read_text())["job"]["files"]
    (repo / "out.txt").write_text("changed after the job\n")
    small_disk.free_up()
    (job,) = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert job["outputs"][0]["hash"] == next(f["digest"] for f in kept if f["role"] == "output")
