"""Edits made outside roar (issue 14.7): a tracked file whose bytes changed on disk since roar
recorded it reads `modified on disk` in `roar status`, `roar dag` (text, --json, graph-json: the
widget's payload) and `roar show`, and the steps that read it are stale. Found through the hash
cache's stat key, read only: the reading commands write nothing to the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import commit_all


@pytest.fixture
def pipeline(repo: Path, run_roar, copy_step) -> Path:
    """@1 downloads data/raw.csv, @2 and @3 transform it: a.txt, b.txt."""
    copy_step()
    (repo / ".gitignore").write_text("data/\n*.txt\n")
    commit_all(repo)
    (repo / "data").mkdir()
    run_roar("run", "sh", "-c", "echo downloaded > data/raw.csv", cwd=repo)
    run_roar("run", "python", "step.py", "data/raw.csv", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    return repo


def _cache_rows(repo: Path) -> list[tuple]:
    conn = sqlite3.connect(repo / ".roar" / "roar.db")
    try:
        return sorted(conn.execute("SELECT * FROM hash_cache").fetchall())
    finally:
        conn.close()


def test_a_hand_edited_output_is_modified_on_disk_and_its_readers_are_stale(pipeline, run_roar):
    repo = pipeline
    raw = repo / "data" / "raw.csv"
    assert run_roar("dag", "--json", cwd=repo).json()["stale_count"] == 0
    before = _cache_rows(repo)

    raw.write_text("edited by hand\n")

    data = run_roar("dag", "--json", "--show-artifacts", cwd=repo).json()
    states = {n["step_number"]: n["state"] for n in data["nodes"]}
    assert states == {1: "active", 2: "stale", 3: "stale"}
    node2 = next(n for n in data["nodes"] if n["step_number"] == 2)
    assert node2["modified_inputs"] == [str(raw)]
    disk = {Path(a["path"]).name: a["disk_state"] for a in data["artifacts"]}
    assert disk == {"raw.csv": "modified on disk", "a.txt": "current", "b.txt": "current"}

    text = run_roar("dag", "--no-color", "--show-artifacts", cwd=repo).stdout
    assert "(raw.csv) [modified on disk]" in text, text
    assert "(raw.csv modified on disk)" in text and "modified on disk" in text.split("Legend:")[1]
    stale_only = run_roar("dag", "--no-color", "--stale-only", cwd=repo).stdout
    assert [line.split()[0] for line in stale_only.splitlines() if line.startswith("@")] == [
        "@2", "@3",
    ]  # fmt: skip

    status = run_roar("status", cwd=repo).stdout
    assert f"{raw} [modified on disk]" in status, status
    assert "Stale:       @2, @3" in status and "(1 modified on disk)" in status
    by_path = {a["path"]: a for a in run_roar("status", "--json", cwd=repo).json()["artifacts"]}
    assert by_path[str(raw)]["disk_state"] == "modified on disk"

    shown = run_roar("show", "data/raw.csv", cwd=repo).stdout
    assert "Artifact: data/raw.csv (modified on disk" in shown, shown
    assert (
        run_roar("show", "data/raw.csv", "--json", cwd=repo).json()["artifact"]["disk_state"]
        == "modified on disk"
    )
    job = run_roar("show", "@2", cwd=repo).stdout
    assert "data/raw.csv (modified on disk)" in job, job

    graph = run_roar("dag", "--format", "graph-json", cwd=repo).json()
    node = next(n for n in graph["nodes"] if n.get("path") == str(raw) and n["type"] == "artifact")
    assert node["disk_state"] == "modified on disk" and graph["counts"]["modified"] == 1
    assert {n["step_ref"]: n["state"] for n in graph["nodes"] if n["type"] == "job"} == {
        "@1": "active", "@2": "stale", "@3": "stale",
    }  # fmt: skip

    # Readers consult the hash cache; none of them wrote to it.
    assert _cache_rows(repo) == before


def test_a_hand_edited_source_input_makes_its_reader_stale_until_restored(
    repo, run_roar, copy_step
):
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    src = repo / "in.txt"
    src.write_text("source\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)

    src.write_text("source, edited\n")
    data = run_roar("dag", "--json", cwd=repo).json()
    assert data["stale_count"] == 2 and data["nodes"][0]["modified_inputs"] == [str(src)]

    src.write_text("source\n")  # the same bytes again (a new mtime: hashed, not trusted)
    data = run_roar("dag", "--json", cwd=repo).json()
    assert data["stale_count"] == 0 and data["nodes"][0]["modified_inputs"] == []


def test_a_deleted_input_does_not_make_its_reader_stale(repo, run_roar, copy_step):
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "in.txt").write_text("source\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    (repo / "in.txt").unlink()
    data = run_roar("dag", "--json", cwd=repo).json()
    assert data["stale_count"] == 0 and data["nodes"][0]["modified_inputs"] == []
