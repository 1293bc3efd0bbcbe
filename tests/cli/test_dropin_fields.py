"""Fields that scripts written for the roar CLI users have today read: `roar dag --json`
artifacts carry `artifact_id`, and `roar status` prints a `DAG hash:` line."""

from __future__ import annotations

import re

from tests.conftest import commit_all


def test_dag_artifacts_carry_artifact_id_and_status_prints_dag_hash(repo, run_roar):
    (repo / ".gitignore").write_text(".roar/\nout.txt\n")
    commit_all(repo)
    run_roar("run", "sh", "-c", "echo x > out.txt", cwd=repo)
    (artifact,) = run_roar("dag", "--json", cwd=repo).json()["artifacts"]
    assert isinstance(artifact["artifact_id"], int) and artifact["artifact_id"] > 0

    status = run_roar("status", cwd=repo).stdout
    dag_hash = run_roar("status", "--json", cwd=repo).json()["dag_hash"]
    assert re.search(rf"^DAG hash:\s+{dag_hash}$", status, re.MULTILINE), status


def _chain(repo, run_roar, copy_step):
    """in.txt → @1 → a.txt → @2 → b.txt → @3 → c.txt"""
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "in.txt").write_text("one\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("run", "python", "step.py", "b.txt", "c.txt", cwd=repo)


def _runs(data: dict) -> list[tuple[str, str, bool]]:
    return [(n["step_ref"], n["state"], n["stale"]) for n in data["nodes"]]


def test_after_a_rerun_of_step_1_the_earlier_runs_downstream_are_superseded(
    repo, run_roar, copy_step
):
    _chain(repo, run_roar, copy_step)
    (repo / "in.txt").write_text("two\n")
    run_roar("run", "@1", cwd=repo)

    expanded = run_roar("dag", "--expanded", "--json", cwd=repo).json()
    assert _runs(expanded) == [
        ("@1", "superseded", False),
        ("@2", "superseded", True),  # read the a.txt that @1's rerun replaced
        ("@3", "superseded", True),  # read what that superseded run wrote
        ("@1", "active", False),
    ]
    assert expanded["stale_count"] == 2  # the steps still need a rerun
    latest = run_roar("dag", "--json", cwd=repo).json()
    assert [(n["step_ref"], n["state"]) for n in latest["nodes"]] == [
        ("@1", "active"), ("@2", "stale"), ("@3", "stale"),
    ]  # fmt: skip
    text = run_roar("dag", "--expanded", "--no-color", cwd=repo).stdout
    assert any(ln.startswith("@2") and ln.endswith("[superseded] *") for ln in text.splitlines())

    run_roar("run", "@2", cwd=repo)  # @2 reads the new a.txt: its new run is current
    expanded = run_roar("dag", "--expanded", "--json", cwd=repo).json()
    assert [r for r in _runs(expanded) if r[0] != "@1"] == [
        ("@2", "superseded", False),
        ("@3", "superseded", True),
        ("@2", "active", False),
    ]


def test_a_rerun_that_writes_the_same_bytes_supersedes_nothing_downstream(
    repo, run_roar, copy_step
):
    _chain(repo, run_roar, copy_step)
    run_roar("run", "@1", cwd=repo)  # same input, same a.txt
    expanded = run_roar("dag", "--expanded", "--json", cwd=repo).json()
    assert _runs(expanded) == [
        ("@1", "superseded", False),
        ("@2", "active", False),
        ("@3", "active", False),
        ("@1", "active", False),
    ]
    assert expanded["stale_count"] == 0
