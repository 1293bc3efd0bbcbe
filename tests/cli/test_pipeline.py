"""End-to-end pipelines: edges by content hash, staleness, reruns, pop — real runs, real store."""

from __future__ import annotations

import json
from pathlib import Path

import blake3
import pytest

STEP = """
import sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src).read() if src != "-" else "seed\\n"
open(dst, "w").write(data + sys.argv[3] + "\\n" if len(sys.argv) > 3 else data + "x\\n")
"""

JOIN = """
import sys
*srcs, dst = sys.argv[1:]
open(dst, "w").write("".join(open(s).read() for s in srcs))
"""


@pytest.fixture
def step_script(write_script):
    write_script("step.py", STEP)
    write_script("join.py", JOIN)


def dag(run_roar, repo: Path, *extra: str) -> dict:
    return run_roar("dag", "--json", *extra, cwd=repo).json()


def test_three_step_pipeline_edges_connect_by_hash(repo, run_roar, step_script):
    (repo / "raw.txt").write_text("raw data\n")
    run_roar("run", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("run", "python", "step.py", "b.txt", "c.txt", cwd=repo)

    data = dag(run_roar, repo, "--show-artifacts")
    assert data["total_steps"] == 3 and data["stale_count"] == 0
    nodes = {n["step_number"]: n for n in data["nodes"]}
    assert (
        nodes[1]["dependencies"] == []
        and nodes[2]["dependencies"] == [1]
        and nodes[3]["dependencies"] == [2]
    )
    # The edge is a content match: what @1 wrote is byte-for-byte what @2 read.
    a_out = next(o for o in nodes[1]["outputs"] if o["path"].endswith("/a.txt"))
    a_in = next(i for i in nodes[2]["inputs"] if i["path"].endswith("/a.txt"))
    assert a_out["hash"] == a_in["hash"] == blake3.blake3((repo / "a.txt").read_bytes()).hexdigest()
    # Tracked code is represented by the commit, never as an input.
    assert not any(i["path"].endswith("step.py") for n in nodes.values() for i in n["inputs"])
    assert [i["path"] for i in nodes[1]["inputs"]] == [str(repo / "raw.txt")]
    terminal = [a for a in data["artifacts"] if a["is_terminal"]]
    assert [Path(a["path"]).name for a in terminal] == ["c.txt"]
    assert all(Path(a["path"]).is_absolute() for a in data["artifacts"])


def test_diamond(repo, run_roar, step_script):
    (repo / "src.txt").write_text("source\n")
    run_roar("run", "python", "step.py", "src.txt", "left.txt", "L", cwd=repo)
    run_roar("run", "python", "step.py", "src.txt", "right.txt", "R", cwd=repo)
    run_roar("run", "python", "join.py", "left.txt", "right.txt", "joined.txt", cwd=repo)
    nodes = {n["step_number"]: n for n in dag(run_roar, repo)["nodes"]}
    assert nodes[3]["dependencies"] == [1, 2]
    assert nodes[3]["metrics"] == {"inputs": 2, "outputs": 1, "consumed": 2}


def test_twelve_step_chain_and_staleness_propagates(repo, run_roar, step_script):
    (repo / "f0.txt").write_text("zero\n")
    for i in range(12):
        run_roar("run", "-q", "python", "step.py", f"f{i}.txt", f"f{i + 1}.txt", cwd=repo)
    data = dag(run_roar, repo)
    assert data["total_steps"] == 12
    assert [n["dependencies"] for n in data["nodes"]] == [[]] + [[i] for i in range(1, 12)]

    # Rerun step 6 so it writes new bytes: steps 7..12 consumed the old f6.txt → stale.
    run_roar("run", "-q", "python", "step.py", "f5.txt", "f6.txt", "changed", cwd=repo)
    data = dag(run_roar, repo)
    states = {n["step_number"]: n["state"] for n in data["nodes"]}
    assert data["total_steps"] == 13  # a different command is a different step
    assert [s for s, st in states.items() if st == "stale"] == list(range(7, 13))
    assert data["stale_count"] == 6

    text = run_roar("dag", "--no-color", cwd=repo).stdout
    assert "6 stale steps" in text and "*" in text
    status = run_roar("status", "--json", cwd=repo).json()
    assert status["stale_steps"] == list(range(7, 13))


def test_rerun_same_command_is_same_step_and_marks_downstream_stale(repo, run_roar, step_script):
    (repo / "in.txt").write_text("one\n")
    run_roar("run", "python", "step.py", "in.txt", "mid.txt", cwd=repo)
    run_roar("run", "python", "step.py", "mid.txt", "out.txt", cwd=repo)
    (repo / "in.txt").write_text("two\n")  # the input changes; step 1 is rerun
    rerun = run_roar("run", "python", "step.py", "in.txt", "mid.txt", cwd=repo)
    assert "Step: @1 (rerun)" in rerun.stderr
    data = dag(run_roar, repo)
    assert data["total_steps"] == 2
    assert {n["step_number"]: n["state"] for n in data["nodes"]} == {1: "active", 2: "stale"}
    expanded = dag(run_roar, repo, "--expanded")
    assert expanded["is_expanded"] and len(expanded["nodes"]) == 3
    # @2's run read what @1's rerun replaced: superseded in the expanded view; the step is stale
    assert sorted(n["state"] for n in expanded["nodes"]) == ["active", "superseded", "superseded"]
    assert [n["step_number"] for n in expanded["nodes"] if n["stale"]] == [2]
    # Bringing step 2 up to date clears it.
    run_roar("run", "@2", cwd=repo)
    assert dag(run_roar, repo)["stale_count"] == 0


def test_rerun_step_with_override(repo, run_roar, write_script):
    write_script(
        "train.py", "import sys, json\nopen('model.json','w').write(json.dumps(sys.argv[1:]))\n"
    )
    run_roar("run", "python", "train.py", "--epochs=1", "--lr", "0.1", cwd=repo)
    out = run_roar("run", "@1", "--epochs=5", "--lr=0.01", "--seed=3", cwd=repo)
    assert "Re-running @1: python train.py --epochs=5 --lr 0.01 --seed=3" in out.stderr
    assert json.loads((repo / "model.json").read_text()) == [
        "--epochs=5",
        "--lr",
        "0.01",
        "--seed=3",
    ]
    data = dag(run_roar, repo, "--expanded")
    assert [n["step_number"] for n in data["nodes"]] == [1, 1]
    bad = run_roar("run", "@7", cwd=repo, check=False)
    assert bad.returncode == 1 and "No node @7 in DAG." in bad.stderr


def test_pop_removes_last_job_and_its_outputs(repo, run_roar, step_script):
    (repo / "in.txt").write_text("data\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    out = run_roar("pop", "-y", cwd=repo)
    assert "Deleted 1 output file(s)." in out.stderr
    assert (
        not (repo / "b.txt").exists() and (repo / "a.txt").exists() and (repo / "in.txt").exists()
    )
    assert dag(run_roar, repo)["total_steps"] == 1
    log = run_roar("log", "--json", cwd=repo).json()
    assert len(log["jobs"]) == 1


def test_reset_starts_new_session_and_keeps_old(repo, run_roar, step_script):
    (repo / "in.txt").write_text("data\n")
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    run_roar("reset", "-y", cwd=repo)
    assert run_roar("dag", "--json", cwd=repo).json()["total_steps"] == 0
    # The old job is still there: lineage finds its producer.
    lineage = run_roar("lineage", "a.txt", "--json", cwd=repo).json()
    assert len(lineage["jobs"]) == 1


def test_lineage_json_contract(repo, run_roar, step_script):
    (repo / "raw.txt").write_text("raw\n")
    run_roar("run", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    data = run_roar("lineage", "b.txt", "--json", cwd=repo).json()
    assert data["artifact"]["hash"] == blake3.blake3((repo / "b.txt").read_bytes()).hexdigest()
    assert [j["step_number"] for j in data["jobs"]] == [1, 2]
    for key in (
        "job_uid",
        "command",
        "timestamp",
        "duration_seconds",
        "exit_code",
        "inputs",
        "outputs",
    ):
        assert key in data["jobs"][0]
    assert {Path(a["path"]).name for a in data["artifacts"]} == {"raw.txt", "a.txt", "b.txt"}
    same = run_roar("lineage", data["artifact"]["hash"][:10], "-o", "json", cwd=repo).json()
    assert run_roar("lineage", "b.txt", cwd=repo).json() == data  # JSON is the default
    assert "Produced through" in run_roar("lineage", "b.txt", "-o", "text", cwd=repo).stdout
    assert [j["job_uid"] for j in same["jobs"]] == [j["job_uid"] for j in data["jobs"]]
    missing = run_roar("lineage", "nope.txt", cwd=repo, check=False)
    assert missing.returncode == 1 and "No artifact found for path: nope.txt" in missing.stderr


def test_show_log_status_json_carry_job_objects(repo, run_roar, step_script):
    (repo / "raw.txt").write_text("raw\n")
    run_roar("run", "-n", "prep", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["kind"] == "run" and job["step_name"] == "prep" and job["exit_code"] == 0
    assert job["git"]["commit"] and job["cwd"] == str(repo)
    assert job["outputs"][0]["path"] == str(repo / "a.txt")
    by_uid = run_roar("show", job["job_uid"], "--json", cwd=repo).json()
    assert by_uid["job_uid"] == job["job_uid"]
    art = run_roar("show", "a.txt", "--json", cwd=repo).json()
    assert art["produced_by"][0]["job_uid"] == job["job_uid"] and art["artifact"]["present"]
    (repo / "a.txt").unlink()
    assert "(missing)" in run_roar("show", "@1", cwd=repo).stdout
    log = run_roar("log", "--json", cwd=repo).json()
    assert log["jobs"][0]["job_uid"] == job["job_uid"]


def test_build_steps_keep_their_files_off_the_edges_and_number_on_their_own(
    repo, run_roar, step_script
):
    """Issue 14, item 3 (upstream shared one counter and dropped a build's files)."""
    (repo / "in.txt").write_text("x\n")
    out = run_roar("build", "python", "step.py", "in.txt", "built.txt", cwd=repo)
    assert "ROAR Build Complete" in out.stderr and "Step: @B1" in out.stderr
    run_roar("run", "python", "step.py", "in.txt", "a.txt", cwd=repo)
    data = dag(run_roar, repo)
    nodes = data["nodes"]
    assert [(n["step_ref"], n["is_build"]) for n in nodes] == [("@B1", True), ("@1", False)]
    assert [n["dependencies"] for n in nodes] == [[], []]  # off the pipeline's edges
    assert [Path(a["path"]).name for a in data["artifacts"]] == ["a.txt"]
    build = run_roar("show", "@B1", "--json", cwd=repo).json()
    assert build["kind"] == "build"
    assert [Path(f["path"]).name for f in build["inputs"]] == ["in.txt"]
    assert [Path(f["path"]).name for f in build["outputs"]] == ["built.txt"]
    assert "Re-running @B1" in run_roar("run", "@B1", cwd=repo).stderr
    assert run_roar("show", "@1", "--json", cwd=repo).json()["kind"] == "run"
    bad = run_roar("show", "@B2", cwd=repo, check=False)
    assert bad.returncode == 1 and "No node @B2 in DAG." in bad.stderr
