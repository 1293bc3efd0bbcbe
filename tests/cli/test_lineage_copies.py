"""`roar lineage` follows producers through a job that copied a file unchanged (the copy has
the same content hash as its source), and agrees with `roar dag` (real runs, real store)."""

from __future__ import annotations

from pathlib import Path


def _chain(run_roar, repo: Path) -> None:
    run_roar("run", "-q", "sh", "-c", "echo aaa > p1", cwd=repo)
    run_roar("run", "-q", "sh", "-c", "cat p1 > p2", cwd=repo)  # p2 has p1's bytes
    run_roar("run", "-q", "sh", "-c", "tr a b < p2 > p3", cwd=repo)
    run_roar("run", "-q", "sh", "-c", "cat p3 p3 > p4", cwd=repo)


def _upstream_steps(dag: dict, step: int) -> set[int]:
    deps = {n["step_number"]: n["dependencies"] for n in dag["nodes"]}
    seen: set[int] = set()
    todo = [step]
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo.extend(deps[s])
    return seen


def test_lineage_goes_through_an_unchanged_copy_and_agrees_with_the_dag(repo, run_roar):
    _chain(run_roar, repo)
    dag = run_roar("dag", "--json", cwd=repo).json()
    assert {n["step_number"]: n["dependencies"] for n in dag["nodes"]} == {
        1: [], 2: [1], 3: [2], 4: [3]
    }  # fmt: skip

    lineage = run_roar("lineage", "p4", "--json", cwd=repo).json()
    assert [j["step_number"] for j in lineage["jobs"]] == [1, 2, 3, 4]
    assert {j["step_number"] for j in lineage["jobs"]} == _upstream_steps(dag, 4)
    text = run_roar("lineage", "p4", "-o", "text", cwd=repo).stdout
    assert "Produced through 4 job(s)" in text and "echo aaa > p1" in text

    # The copy itself: p2's lineage is @1 and @2.
    assert [
        j["step_number"] for j in run_roar("lineage", "p2", "--json", cwd=repo).json()["jobs"]
    ] == [1, 2]

    # The lineage graph (DAG viewer, --artifact) draws @1 too, with the edge @1 → p1 → @2.
    graph = run_roar("dag", "--format", "graph-json", "--artifact", "p4", cwd=repo).json()
    jobs = {n["id"]: n["step_number"] for n in graph["nodes"] if n["type"] == "job"}
    assert sorted(jobs.values()) == [1, 2, 3, 4]
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    p1 = next(
        n["id"] for n in graph["nodes"] if n["type"] == "artifact" and n["label"] in ("p1", "p2")
    )
    by_step = {s: i for i, s in jobs.items()}
    assert (by_step[1], p1) in edges and (p1, by_step[2]) in edges


def test_a_rerun_of_the_copy_step_is_not_its_own_producer(repo, run_roar):
    _chain(run_roar, repo)
    run_roar("run", "-q", "@2", cwd=repo)  # the copy again: same bytes, a newer job of step 2
    lineage = run_roar("lineage", "p2", "--json", cwd=repo).json()
    assert [j["step_number"] for j in lineage["jobs"]] == [1, 2]
