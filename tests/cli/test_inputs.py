"""roar inputs TARGET [--contains X] [--all] [--json] (issue 16.3): every source input upstream
of a target, and "was X in its lineage?" — through directories read as a whole too. Real
`roar run` pipelines in real git repos."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest

from tests.conftest import commit_all

STEP = """
import sys
*srcs, dst = sys.argv[1:]
open(dst, "w").write("".join(open(s).read() for s in srcs) + "x\\n")
"""

TRAIN = """
import os, sys
rows = []
for name in sorted(os.listdir("ds")):  # the whole directory: one composite input
    rows.append(open(os.path.join("ds", name)).read())
open(sys.argv[1], "w").write(str(len(rows)) + "\\n")
"""


def digest(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


@pytest.fixture
def pipeline(repo: Path, run_roar, write_script) -> Path:
    """raw.txt + params.yaml → @1 → a.txt; a.txt + params.yaml → @2 → b.txt;
    side.txt → @3 → side_out.txt (unrelated)."""
    write_script("step.py", STEP)
    (repo / ".gitignore").write_text(".roar/\n*.txt\n*.yaml\n")
    commit_all(repo, "ignore data")
    (repo / "raw.txt").write_text("raw\n")
    (repo / "params.yaml").write_text("lr: 0.1\n")
    (repo / "side.txt").write_text("side\n")
    run_roar("run", "-q", "python", "step.py", "raw.txt", "params.yaml", "a.txt", cwd=repo)
    run_roar("run", "-q", "python", "step.py", "a.txt", "params.yaml", "b.txt", cwd=repo)
    run_roar("run", "-q", "python", "step.py", "side.txt", "side_out.txt", cwd=repo)
    return repo


def test_source_inputs_with_the_jobs_that_read_them(pipeline, run_roar):
    repo = pipeline
    data = run_roar("inputs", "b.txt", "--json", cwd=repo).json()
    assert data["target"]["path"] == str(repo / "b.txt")
    assert data["target"]["hash"] == digest(repo / "b.txt")
    assert [j["step_ref"] for j in data["jobs"]] == ["@1", "@2"]
    by_path = {Path(i["path"]).name: i for i in data["inputs"]}
    assert set(by_path) == {"raw.txt", "params.yaml"}  # a.txt is made by @1: not a source
    raw = by_path["raw.txt"]
    assert raw["hash"] == digest(repo / "raw.txt") and raw["size"] == 4
    assert raw["source"] is True and raw["produced_by"] is None
    assert raw["disk_state"] == "current" and raw["present"] is True
    assert [j["step_ref"] for j in raw["read_by"]] == ["@1"]
    assert [j["step_ref"] for j in by_path["params.yaml"]["read_by"]] == ["@1", "@2"]
    # The same walk as roar lineage: the jobs it lists, and their inputs no job made.
    lineage = run_roar("lineage", "b.txt", "--json", cwd=repo).json()
    assert [j["job_uid"] for j in data["jobs"]] == [j["job_uid"] for j in lineage["jobs"]]

    text = run_roar("inputs", "b.txt", cwd=repo).stdout
    assert "Source inputs of b.txt (2, through 2 jobs):" in text
    assert f"{digest(repo / 'raw.txt')[:12]}" in text and "raw.txt  (read by @1 [" in text
    assert "a.txt" not in text

    everything = run_roar("inputs", "b.txt", "--all", "--json", cwd=repo).json()
    middle = [i for i in everything["inputs"] if not i["source"]]
    assert [Path(i["path"]).name for i in middle] == ["a.txt"]
    assert middle[0]["produced_by"]["step_ref"] == "@1"
    assert [j["step_ref"] for j in middle[0]["read_by"]] == ["@2"]
    assert "Intermediates (1):" in run_roar("inputs", "b.txt", "--all", cwd=repo).stdout

    # A job as the target: its own inputs' lineage; the same sources through @2.
    by_step = run_roar("inputs", "@2", "--json", cwd=repo).json()
    assert by_step["target_job"]["step_ref"] == "@2"
    assert {Path(i["path"]).name for i in by_step["inputs"]} == {"raw.txt", "params.yaml"}

    # Labels ride along in the artifact objects, as in every --json view.
    run_roar("label", "set", "artifact", "raw.txt", "owner=alice", "rows=1", cwd=repo)
    labelled = run_roar("inputs", "b.txt", "--json", cwd=repo).json()["inputs"]
    assert {Path(i["path"]).name: i["labels"] for i in labelled} == {
        "raw.txt": {"owner": "alice", "rows": 1},
        "params.yaml": {},
    }

    # Edited on disk since: still listed with the recorded hash, marked.
    (repo / "raw.txt").write_text("raw, edited\n")
    text = run_roar("inputs", "b.txt", cwd=repo).stdout
    assert "[modified on disk]" in text and digest(repo / "raw.txt")[:12] not in text


def test_contains_yes_with_the_chain_of_jobs(pipeline, run_roar):
    repo = pipeline
    yes = run_roar("inputs", "b.txt", "--contains", "raw.txt", cwd=repo)
    lines = yes.stdout.splitlines()
    assert lines[0].startswith("raw.txt (") and "is in the lineage of b.txt:" in lines[0]
    assert "raw.txt  →  @1 [" in lines[1] and "python step.py raw.txt params.yaml a.txt" in lines[1]
    assert "a.txt  →  @2 [" in lines[2] and lines[3] == "  ⇒ b.txt"

    # By hash prefix, with the chain as JSON.
    data = run_roar(
        "inputs", "b.txt", "--contains", digest(repo / "raw.txt")[:10], "--json", cwd=repo
    ).json()
    assert data["found"] is True and data["query_hash"] == digest(repo / "raw.txt")
    assert [(Path(h["read"]["path"]).name, h["job"]["step_ref"]) for h in data["chain"]] == [
        ("raw.txt", "@1"),
        ("a.txt", "@2"),
    ]
    # An intermediate is in the lineage too; so is the target itself.
    assert run_roar("inputs", "b.txt", "--contains", "a.txt", cwd=repo).returncode == 0
    itself = run_roar("inputs", "b.txt", "--contains", "b.txt", cwd=repo)
    assert "it is the target itself" in itself.stdout


def test_contains_no_exits_1(pipeline, run_roar):
    repo = pipeline
    no = run_roar("inputs", "b.txt", "--contains", "side.txt", cwd=repo, check=False)
    assert no.returncode == 1
    assert no.stdout.strip() == "side.txt: not in the lineage of b.txt"
    # Downstream is not upstream: b.txt is not in the lineage of a.txt.
    down = run_roar("inputs", "a.txt", "--contains", "b.txt", "--json", cwd=repo, check=False)
    assert down.returncode == 1 and down.json()["found"] is False and down.json()["chain"] == []
    # Bytes roar never recorded: no, and said why.
    (repo / "other.txt").write_text("never seen\n")
    unknown = run_roar("inputs", "b.txt", "--contains", "other.txt", cwd=repo, check=False)
    assert unknown.returncode == 1
    assert "not in the lineage of b.txt (roar has no record of these bytes)" in unknown.stdout
    # An unknown target is an error in the seeds' words, not a "no".
    missing = run_roar("inputs", "nowhere.txt", "--contains", "raw.txt", cwd=repo, check=False)
    assert missing.returncode == 1 and "No artifact found for path: nowhere.txt" in missing.stderr
    by_hash = run_roar("inputs", "deadbeefdeadbeef", cwd=repo, check=False)
    assert by_hash.returncode == 1 and by_hash.stdout == ""
    assert "Artifact not found in database: deadbeefdeadbeef" in by_hash.stderr
    assert "No node @7 in DAG." in run_roar("inputs", "@7", cwd=repo, check=False).stderr


def test_contains_finds_a_file_inside_a_directory_read_as_a_whole(repo, run_roar, write_script):
    write_script("train.py", TRAIN)
    (repo / ".gitignore").write_text(".roar/\nds/\n*.txt\n")
    commit_all(repo, "ignore data")
    (repo / "ds").mkdir()
    for i in range(3):
        (repo / "ds" / f"part-{i}.csv").write_text(f"id,value\n{i},{i * i}\n")
    (repo / "elsewhere.csv").write_text("id,value\n9,81\n")
    run_roar("run", "-q", "python", "train.py", "model.txt", cwd=repo)

    listing = run_roar("inputs", "model.txt", "--json", cwd=repo).json()
    (ds,) = listing["inputs"]
    assert ds["path"] == str(repo / "ds") and ds["composite"] is True

    inside = run_roar("inputs", "model.txt", "--contains", "ds/part-1.csv", cwd=repo)
    assert (
        "is in the lineage of model.txt, inside ds (a directory read as a whole)" in inside.stdout
    )
    assert "ds  →  @1 [" in inside.stdout
    as_json = run_roar(
        "inputs", "model.txt", "--contains", "ds/part-1.csv", "--json", cwd=repo
    ).json()
    assert as_json["found"] is True and as_json["via"]["path"] == str(repo / "ds")
    assert as_json["query_hash"] == digest(repo / "ds" / "part-1.csv")

    outside = run_roar("inputs", "model.txt", "--contains", "elsewhere.csv", cwd=repo, check=False)
    assert outside.returncode == 1 and "not in the lineage of model.txt" in outside.stdout
