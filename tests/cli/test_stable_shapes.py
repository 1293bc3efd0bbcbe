"""Same command, same tree, same record (issue 14, items 2 and 3): a directory written again by
a rerun stays one composite artifact, and build steps keep their files and their own numbers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from roar.store import migrations
from tests.conftest import commit_all

MK = """
import os
os.makedirs('ds/train', exist_ok=True)
for i in range(3):
    with open(f'ds/train/part-{i}.csv', 'w') as f:
        f.write(f'id,value\\n{i},{i * i}\\n')
"""


def outputs(run_roar, repo: Path, uid: str) -> list[dict]:
    return run_roar("show", uid, "--json", cwd=repo).json()["outputs"]


def test_rerun_into_existing_directory_records_the_same_composite(repo, run_roar, write_script):
    (repo / ".gitignore").write_text("ds/\n")
    write_script("mk.py", MK)
    run_roar("run", "python", "mk.py", cwd=repo)
    run_roar("run", "python", "mk.py", cwd=repo)  # identical bytes into the existing directory
    jobs = run_roar("log", "--json", cwd=repo).json()
    jobs = jobs["jobs"] if isinstance(jobs, dict) else jobs
    assert len(jobs) == 2
    first, second = (outputs(run_roar, repo, j["job_uid"]) for j in jobs)
    assert len(first) == 1 and first[0]["composite"] and first[0]["path"] == str(repo / "ds")
    shape = [(o["path"], o["composite"], o["hash"], o["artifact_id"]) for o in first]
    assert [(o["path"], o["composite"], o["hash"], o["artifact_id"]) for o in second] == shape

    dag = run_roar("dag", "--expanded", "--json", cwd=repo).json()
    ds = [a for a in dag["artifacts"] if a["path"] == str(repo / "ds")]
    assert ds and {(a["artifact_id"], a["composite"]) for a in ds} == {(shape[0][3], True)}
    assert not any("part-" in a["path"] for a in dag["artifacts"])
    text = run_roar("dag", "--expanded", "--show-artifacts", cwd=repo).stdout
    assert "(ds)" in text and "part-" not in text, text


BUILD = """#!/bin/sh
mkdir -p bin
cat src/tool.txt > bin/tool
echo built >> bin/tool
"""


def test_build_steps_keep_their_files_and_their_numbers(repo, run_roar, write_script):
    (repo / ".gitignore").write_text("bin/\nout*.txt\n")
    (repo / "src").mkdir()
    (repo / "src" / "tool.txt").write_text("tool v1\n")
    write_script("b.sh", BUILD).chmod(0o755)
    commit_all(repo, "build script")
    for i in range(5):
        run_roar("run", "sh", "-c", f"echo {i} > out{i}.txt", cwd=repo)
    built = run_roar("build", "./b.sh", cwd=repo)
    assert "@B1" in built.stdout + built.stderr

    shown = run_roar("show", "@B1", "--json", cwd=repo).json()
    assert shown["kind"] == "build" and shown["step_ref"] == "@B1"
    assert [Path(f["path"]).name for f in shown["inputs"]] == ["tool.txt"]
    assert [Path(f["path"]).name for f in shown["outputs"]] == ["tool"]
    assert run_roar("show", "@1", "--json", cwd=repo).json()["kind"] == "run"
    assert "@B1" in run_roar("show", "@B1", cwd=repo).stdout

    dag = run_roar("dag", "--json", cwd=repo).json()
    refs = sorted(n["step_ref"] for n in dag["nodes"])
    assert refs == ["@1", "@2", "@3", "@4", "@5", "@B1"]
    # off the pipeline's edges: the build's files are no artifacts of the DAG
    assert not any(a["path"].endswith("/bin/tool") for a in dag["artifacts"])
    text = run_roar("dag", cwd=repo).stdout
    assert "@B1" in text and "@1 " in text
    status = run_roar("status", "--json", cwd=repo).json()
    assert (status["build_steps"], status["run_steps"]) == (1, 5)
    log = run_roar("log", cwd=repo).stdout
    assert "@B1" in log and "@5" in log

    # A second build is @B2; the next run is @6, whatever the builds are numbered.
    run_roar("build", "sh", "-c", "echo again > bin/again", cwd=repo)
    run_roar("run", "sh", "-c", "echo 5 > out5.txt", cwd=repo)
    refs = [j["step_ref"] for j in run_roar("log", "--json", cwd=repo).json()["jobs"]]
    assert sorted(refs) == ["@1", "@2", "@3", "@4", "@5", "@6", "@B1", "@B2"], refs

    # pop removes what the build wrote
    run_roar("run", "@B1", cwd=repo)  # rerun of build step 1: still @B1
    assert run_roar("show", "@B1", "--json", cwd=repo).json()["outputs"]
    popped = run_roar("pop", "-y", cwd=repo)
    assert "@B1" in popped.stderr and not (repo / "bin" / "tool").exists(), popped.stderr


def test_store_with_shared_step_numbers_is_renumbered(repo, run_roar):
    """A store from schema 5, where builds shared the run steps' counter, opens with its build
    steps renumbered @B1, @B2, … and its run steps unchanged."""
    db = repo / ".roar" / "roar.db"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(conn, target=5)  # what the previous schema created
    conn.execute("BEGIN")
    conn.execute("INSERT INTO sessions (uid, created_at, is_active) VALUES ('s1', 1.0, 1)")
    rows = [("a0000001", "run", 1), ("a0000002", "run", 2), ("a0000003", "build", 3),
            ("a0000004", "run", 4), ("a0000005", "build", 5), ("a0000006", "build", 3)]  # fmt: skip
    for n, (uid, kind, step) in enumerate(rows):
        conn.execute(
            "INSERT INTO jobs (uid, session_id, kind, step_number, step_identity, command, argv, "
            "cwd, started_at, ended_at, exit_code, tracer) VALUES (?, 1, ?, ?, ?, 'true', "
            "'[\"true\"]', '', ?, ?, 0, 'ptrace')",
            (uid, kind, step, f"id{step}", float(n), float(n) + 0.5),
        )
    conn.commit()
    conn.close()
    log = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert {j["job_uid"]: j["step_ref"] for j in log} == {
        "a0000001": "@1", "a0000002": "@2", "a0000003": "@B1",
        "a0000004": "@4", "a0000005": "@B2", "a0000006": "@B1",
    }  # fmt: skip
    assert run_roar("show", "@B2", "--json", cwd=repo).json()["job_uid"] == "a0000005"
