"""The JSON views agree (issue 14.16): one job object and one artifact object across `roar dag`,
`status`, `lineage`, `show` and `log` --json, built by one serializer (docs/json-contract.md).
Run on a real recorded pipeline; every view's objects are compared key by key, value by value."""

from __future__ import annotations

from pathlib import Path

from roar.query.serialize import ARTIFACT_KEYS, JOB_KEYS
from tests.conftest import commit_all


def test_every_view_carries_the_same_job_and_artifact_objects(repo, run_roar, copy_step):
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "raw.txt").write_text("raw\n")
    run_roar("run", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("run", "python", "step.py", "b.txt", "c.txt", cwd=repo)
    (repo / "b.txt").write_text("edited by hand\n")  # a disk state other than `current`

    def get(*args: str) -> dict:
        return run_roar(*args, "--json", cwd=repo).json()

    dag = get("dag", "--show-artifacts")
    status = get("status")
    lineage = get("lineage", "c.txt")
    log = get("log")
    session = get("show")
    step2 = get("show", "@2")
    show_a = get("show", "a.txt")

    jobs: dict[str, list[tuple[str, dict]]] = {}
    for view, objects in [
        ("dag", dag["nodes"]),
        ("status", status["nodes"]),
        ("lineage", lineage["jobs"]),
        ("log", log["jobs"]),
        ("show", session["jobs"]),
        ("show @2", [step2]),
        ("show a.txt produced_by", show_a["produced_by"]),
        ("show a.txt consumed_by", show_a["consumed_by"]),
    ]:
        for job in objects:
            missing = set(JOB_KEYS) - set(job)
            assert not missing, f"{view}: job lacks {sorted(missing)}"
            jobs.setdefault(job["job_uid"], []).append((view, job))
    assert len(jobs) == 3 and all(len(seen) >= 5 for seen in jobs.values())
    for uid, seen in jobs.items():
        first_view, first = seen[0]
        for view, job in seen[1:]:
            for key in JOB_KEYS:
                assert job[key] == first[key], f"job {uid} {key}: {view} != {first_view}"
    assert lineage["jobs"][0]["step_ref"] == "@1" and lineage["jobs"][0]["cwd"] == str(repo)
    assert "git" in lineage["jobs"][0]

    artifacts: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for view, objects in [
        ("dag", dag["artifacts"]),
        ("status", status["artifacts"]),
        ("lineage artifact", [lineage["artifact"]]),
        ("lineage", lineage["artifacts"]),
        ("show a.txt", [show_a["artifact"]]),
    ]:
        for art in objects:
            missing = set(ARTIFACT_KEYS) - set(art)
            assert not missing, f"{view}: artifact lacks {sorted(missing)}"
            artifacts.setdefault((art["path"], art["hash"]), []).append((view, art))
    for key, seen in artifacts.items():
        first_view, first = seen[0]
        for view, art in seen[1:]:
            for field in ARTIFACT_KEYS:
                assert art[field] == first[field], f"{key} {field}: {view} != {first_view}"
    by_name = {Path(p).name: seen for (p, _), seen in artifacts.items()}
    assert {v for v, _ in by_name["a.txt"]} >= {"dag", "status", "lineage", "show a.txt"}
    assert by_name["b.txt"][0][1]["disk_state"] == "modified on disk"
    assert by_name["b.txt"][0][1]["present"] is True
    assert by_name["raw.txt"][0][1]["disk_state"] == "current"  # a source input, in lineage

    # File records inside jobs are one shape too.
    records = [f for j in log["jobs"] for f in (*j["inputs"], *j["outputs"])]
    assert {tuple(sorted(f)) for f in records} == {
        ("artifact_id", "composite", "hash", "path", "size")
    }
