"""A job that removes files records them (role ``deleted``), under every backend: `roar show`
of the job and of the file, the DAG (text, --json, graph-json, DOT) — real runs, real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import blake3
import pytest

BACKENDS = ("ebpf", "preload", "ptrace")

REMOVE = "cat p2 > /dev/null; rm p1 p2 raw.txt; echo t > tmp.txt; rm tmp.txt; mv keep.txt moved.txt"


def h(text: str) -> str:
    return blake3.blake3(text.encode()).hexdigest()


@pytest.fixture(params=BACKENDS)
def removed(request, repo: Path, run_roar) -> Path:
    """@1 writes p1, p2, keep.txt; @2 reads p2, removes p1, p2 and raw.txt (never recorded),
    makes and removes tmp.txt, and renames keep.txt to moved.txt."""
    backend = request.param
    (repo / "raw.txt").write_text("raw\n")  # untracked, never read by a recorded job
    run_roar("run", "--tracer", backend, "sh", "-c",
             "echo aaa > p1; echo bbb > p2; echo ccc > keep.txt", cwd=repo)  # fmt: skip
    run_roar("run", "--tracer", backend, "sh", "-c", REMOVE, cwd=repo)
    return repo


def test_the_job_records_what_it_deleted_with_the_hash_it_had(removed, run_roar):
    repo = removed
    job = run_roar("show", "@2", "--json", cwd=repo).json()
    deleted = {Path(f["path"]).name: f for f in job["deleted"]}
    assert set(deleted) == {"p1", "p2", "raw.txt", "keep.txt"}  # not the temporary tmp.txt
    p1 = {k: deleted["p1"][k] for k in ("path", "hash", "size", "composite")}
    assert p1 == {"path": str(repo / "p1"), "hash": h("aaa\n"), "size": 4, "composite": False}
    assert isinstance(deleted["p1"]["artifact_id"], int)
    assert deleted["p2"]["hash"] == h("bbb\n") and deleted["keep.txt"]["hash"] == h("ccc\n")
    assert deleted["raw.txt"] == {"path": str(repo / "raw.txt"), "hash": None, "size": None,
                                  "artifact_id": None, "composite": False}  # fmt: skip
    # p2 was read before it was removed: an input, with the bytes @1 wrote
    assert [(Path(f["path"]).name, f["hash"]) for f in job["inputs"]] == [("p2", h("bbb\n"))]
    assert [Path(f["path"]).name for f in job["outputs"]] == ["moved.txt"]

    rows = sqlite3.connect(repo / ".roar" / "roar.db").execute(
        "SELECT jf.path, a.digest FROM job_files jf LEFT JOIN artifacts a ON a.id = jf.artifact_id "
        "WHERE jf.role = 'deleted' ORDER BY jf.path"
    )
    assert [(Path(p).name, d) for p, d in rows] == [
        ("keep.txt", h("ccc\n")), ("p1", h("aaa\n")), ("p2", h("bbb\n")), ("raw.txt", None)
    ]  # fmt: skip

    text = run_roar("show", "@2", cwd=repo).stdout
    assert "Deleted files (4):" in text and "content unknown" in text


def test_show_path_says_who_deleted_it(removed, run_roar):
    repo = removed
    text = run_roar("show", "p1", cwd=repo).stdout
    assert text.splitlines()[0] == "Artifact: p1 (deleted by @2)"
    assert "Deleted by (1 job(s)):" in text
    data = run_roar("show", "p1", "--json", cwd=repo).json()
    assert data["artifact"]["hash"] == h("aaa\n") and data["artifact"]["present"] is False
    assert [j["step_ref"] for j in data["deleted_by"]] == ["@2"]
    assert [j["step_ref"] for j in data["produced_by"]] == ["@1"]

    # content roar never recorded: no artifact, only who removed the path
    raw = run_roar("show", str(repo / "raw.txt"), "--json", cwd=repo).json()
    assert raw["artifact"] is None and raw["present"] is False
    assert [j["step_ref"] for j in raw["deleted_by"]] == ["@2"]
    assert "Deleted by: @2" in run_roar("show", "raw.txt", cwd=repo).stdout


def test_the_dag_draws_the_deletions(removed, run_roar):
    repo = removed
    text = run_roar("dag", "--no-color", cwd=repo).stdout
    assert "──x (p1) deleted" in text and "──x (raw.txt) deleted" in text and "del:4" in text

    data = run_roar("dag", "--json", "--show-artifacts", cwd=repo).json()
    nodes = {n["step_number"]: n for n in data["nodes"]}
    assert sorted(Path(f["path"]).name for f in nodes[2]["deleted"]) == [
        "keep.txt", "p1", "p2", "raw.txt"
    ]  # fmt: skip
    assert nodes[2]["dependencies"] == [1]  # through p2, which it read
    written = {Path(a["path"]).name: a for a in data["artifacts"]}
    assert written["p1"]["deleted_by_step"] == 2 and written["moved.txt"]["deleted_by_step"] is None

    graph = run_roar("dag", "--format", "graph-json", cwd=repo).json()
    job2 = next(n["id"] for n in graph["nodes"] if n["type"] == "job" and n["step_number"] == 2)
    removed_edges = {e["source"] for e in graph["edges"] if e["kind"] == "deleted"}
    assert all(e["target"] == job2 for e in graph["edges"] if e["kind"] == "deleted")
    assert {"artifact-" + h("aaa\n"), "artifact-" + h("bbb\n")} <= removed_edges
    unknown = [n for n in graph["nodes"] if n["id"] in removed_edges and n["hash"] is None]
    assert [n["label"] for n in unknown] == ["raw.txt"] and unknown[0]["missing"] is True

    dot = run_roar("dag", "--format", "dot", cwd=repo).stdout
    assert dot.count("label=deleted") == 4 and "content unknown" in dot
